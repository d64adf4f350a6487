/**
 * eBPF programs from native/bpf/, loaded through libbpf: the DHCP socket filter with
 * pass/drop counters, and the tc clsact egress policy keyed on priv's socket mark.
 */
import { addon, bpfObjectPath, type RawBpfObject } from "./addon.ts";
import { NativeError } from "./errors.ts";

/** Pass/drop counters of an eBPF socket filter. */
export interface FilterCounters {
  /** Frames accepted (delivered to the socket). */
  passed: bigint;
  /** Frames dropped in the kernel. */
  dropped: bigint;
}

const KEY_BYTES = 4;

function key(slot: number): Uint8Array {
  const k = new Uint8Array(KEY_BYTES);
  new DataView(k.buffer).setUint32(0, slot, true);
  return k;
}

function readU64(obj: RawBpfObject, map: string, slot: number): bigint {
  const v = obj.mapLookup(map, key(slot));
  return v.readBigUInt64LE(0);
}

/**
 * The eBPF variant of the DHCP client socket filter (native/bpf/dhcp_filter.bpf.c): accepts
 * what the classic filter accepts and counts both outcomes. Pass it as `filter` to
 * openPacketSocket; the caller owns it and closes it after the sockets it serves.
 */
export class EbpfSocketFilter {
  private obj: RawBpfObject | undefined;

  private constructor(obj: RawBpfObject) {
    this.obj = obj;
  }

  /** Loads (and verifies) the DHCP client filter. Throws NativeError. */
  static loadDhcp(): EbpfSocketFilter {
    return new EbpfSocketFilter(new (addon().BpfObject)(bpfObjectPath("dhcp_filter")));
  }

  /** The program's fd, for SO_ATTACH_BPF. */
  programFd(): number {
    return this.live().programFd("paddock_dhcp");
  }

  /** Reads the counters (cumulative over every socket the program is attached to). */
  counters(): FilterCounters {
    const obj = this.live();
    return { passed: readU64(obj, "dhcp_counters", 0), dropped: readU64(obj, "dhcp_counters", 1) };
  }

  /** Releases the program and map fds; attached sockets keep filtering. Idempotent. */
  close(): void {
    this.obj?.close();
    this.obj = undefined;
  }

  private live(): RawBpfObject {
    if (this.obj === undefined) throw new NativeError(9, "EBADF", "bpf", "filter is closed");
    return this.obj;
  }
}

/**
 * Our tc filter's identity on a clsact egress hook: a fixed handle and priority, plus the
 * program name, so cleanup after a crash removes ours and never someone else's.
 */
export const EGRESS_TC_HANDLE = 0x9add0c;
/** Priority of our egress filter (low numbers run first; ours should run before others). */
export const EGRESS_TC_PRIORITY = 1;
/** The kernel-side name of the egress program (its C function name, ≤ 15 characters). */
export const EGRESS_PROGRAM_NAME = "paddock_egress";

/** Counters of the egress program. */
export interface EgressCounters {
  /** Marked frames that matched the egress pattern and were sent. */
  allowed: bigint;
  /** Marked frames that did not match and were dropped. */
  dropped: bigint;
  /** Unmarked frames (not from priv's data-path socket), passed uninspected. */
  unmarked: bigint;
}

/** Where an egress policy is attached. */
export type EgressTarget = ({ ifname: string; ifindex?: undefined } | { ifindex: number; ifname?: undefined }) & {
  /** The interface's network namespace, e.g. "/run/netns/NAME". */
  netnsPath?: string;
};

function tcTarget(t: EgressTarget): { ifname?: string; ifindex?: number; netnsPath?: string } {
  return {
    ...(t.ifname === undefined ? { ifindex: t.ifindex } : { ifname: t.ifname }),
    ...(t.netnsPath === undefined ? {} : { netnsPath: t.netnsPath }),
  };
}

/**
 * Removes a Paddock egress filter left on the interface by a run that did not detach (a
 * crash: tc filters outlive their process). Returns true if one was removed. A different
 * program at our handle and priority is not touched: that throws NativeError EBUSY.
 * The clsact qdisc itself is left in place: it may carry other owners' filters.
 */
export function removeEgressLeftovers(target: EgressTarget): boolean {
  const a = addon();
  const where = { ...tcTarget(target), handle: EGRESS_TC_HANDLE, priority: EGRESS_TC_PRIORITY };
  const progId = a.tcQueryEgress(where);
  if (progId === null) return false;
  const name = a.bpfProgramName(progId);
  if (name !== null && name !== EGRESS_PROGRAM_NAME) {
    throw new NativeError(16, "EBUSY", "bpf_tc_query", `handle ${EGRESS_TC_HANDLE} holds program "${name}"`);
  }
  return a.tcDetachEgress(where);
}

/**
 * The tc clsact egress program on one interface (native/bpf/egress_policy.bpf.c): frames
 * carrying `mark` are dropped unless they are a DHCP BOOTREQUEST from port 68 to 67.
 * Attach cleans leftovers first; detach (also run at process exit if forgotten) removes the
 * filter, and the clsact qdisc if this policy created it.
 */
export class EgressPolicy {
  private obj: RawBpfObject | undefined;
  private readonly exitHook = (): void => this.detach();

  private constructor(
    obj: RawBpfObject,
    private readonly target: EgressTarget,
    private readonly createdQdisc: boolean,
  ) {
    this.obj = obj;
    process.once("exit", this.exitHook);
  }

  /** Loads the program, sets the mark, removes leftovers, attaches. Throws NativeError. */
  static attach(target: EgressTarget & { mark: number }): EgressPolicy {
    if (!Number.isInteger(target.mark) || target.mark <= 0 || target.mark > 0xffffffff) {
      throw new NativeError(22, "EINVAL", "bpf_map_update_elem", "mark must be 1..2^32-1 (0 means unset)");
    }
    const a = addon();
    const obj = new a.BpfObject(bpfObjectPath("egress_policy"));
    try {
      const value = new Uint8Array(4);
      new DataView(value.buffer).setUint32(0, target.mark, true);
      // The mark is set before attaching: a program that is live but unconfigured passes all.
      obj.mapUpdate("egress_config", key(0), value);
      removeEgressLeftovers(target);
      const { createdQdisc } = a.tcAttachEgress({
        ...tcTarget(target),
        progFd: obj.programFd(EGRESS_PROGRAM_NAME),
        handle: EGRESS_TC_HANDLE,
        priority: EGRESS_TC_PRIORITY,
      });
      return new EgressPolicy(obj, target, createdQdisc);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Reads the program's counters. */
  counters(): EgressCounters {
    if (this.obj === undefined) throw new NativeError(9, "EBADF", "bpf", "egress policy is detached");
    return {
      allowed: readU64(this.obj, "egress_counters", 0),
      dropped: readU64(this.obj, "egress_counters", 1),
      unmarked: readU64(this.obj, "egress_counters", 2),
    };
  }

  /**
   * Removes the filter (and the clsact qdisc if we created it). Idempotent. An interface or
   * namespace that no longer exists took the filter with it, so that is not an error.
   */
  detach(): void {
    if (this.obj === undefined) return;
    process.removeListener("exit", this.exitHook);
    try {
      addon().tcDetachEgress({ ...tcTarget(this.target), handle: EGRESS_TC_HANDLE, priority: EGRESS_TC_PRIORITY });
      if (this.createdQdisc) addon().tcDestroyClsact(tcTarget(this.target));
    } catch (e) {
      if (!(e instanceof NativeError && (e.errno === "ENODEV" || e.errno === "ENOENT"))) throw e;
    } finally {
      this.obj.close();
      this.obj = undefined;
    }
  }
}
