/**
 * eBPF programs from native/bpf/, loaded through libbpf: the DHCP socket filter with
 * pass/drop counters, and the tc clsact egress policy: one program instance per service, keyed
 * on the service's socket mark, enforcing its declarative rules (./egress-rules.ts).
 */
import { addon, bpfObjectPath, type RawBpfObject } from "./addon.ts";
import { DHCP_CLIENT_EGRESS_RULES, encodeEgressConfig, parseEgressRules, type EgressRule } from "./egress-rules.ts";
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
 * The tc handle of the deprecated mark-only `EgressPolicy.attach` and of
 * `removeEgressLeftovers`: the single slot Paddock used before each service had its own. New
 * callers pass their service's own handle and priority.
 */
export const EGRESS_TC_HANDLE = 0x9add0c;
/** Priority of the deprecated single-slot egress filter (low numbers run first). */
export const EGRESS_TC_PRIORITY = 1;
/** The kernel-side name of the egress program (its C function name, ≤ 15 characters). */
export const EGRESS_PROGRAM_NAME = "paddock_egress";

/** Counters of the egress program. */
export interface EgressCounters {
  /** Marked frames that matched a rule and were sent. */
  allowed: bigint;
  /** Marked frames that matched no rule and were dropped. */
  dropped: bigint;
  /** Frames without this program's mark (the host's, other services'), passed on uninspected. */
  unmarked: bigint;
}

/** Where an egress policy is attached. */
export type EgressTarget = ({ ifname: string; ifindex?: undefined } | { ifindex: number; ifname?: undefined }) & {
  /** The interface's network namespace, e.g. "/run/netns/NAME". */
  netnsPath?: string;
};

/**
 * A tc filter slot on the clsact egress hook: the handle and priority that identify one
 * service's program. Each service on an interface needs its own; lower priorities run first,
 * and a program passes frames that are not its own on to the next priority (TC_ACT_UNSPEC).
 */
export interface EgressSlot {
  /** tc filter handle, 1..2^32-1. */
  handle: number;
  /** tc filter priority ("pref"), 1..65535 (0 would let the kernel choose one). */
  priority: number;
}

/** Options of EgressPolicy.attach: the interface, the service's mark, rules and tc slot. */
export type EgressAttachOptions = EgressTarget &
  EgressSlot & {
    /** The service's socket mark (SO_MARK on its packet or UDP socket), 1..2^32-1. */
    mark: number;
    /** What the service's marked frames may be (at most MAX_EGRESS_RULES; validated). */
    rules: readonly EgressRule[];
  };

function tcTarget(t: EgressTarget): { ifname?: string; ifindex?: number; netnsPath?: string } {
  return {
    ...(t.ifname === undefined ? { ifindex: t.ifindex } : { ifname: t.ifname }),
    ...(t.netnsPath === undefined ? {} : { netnsPath: t.netnsPath }),
  };
}

const EINVAL = 22;

/** Throws NativeError EINVAL unless handle and priority are a valid tc slot. */
function checkSlot(slot: EgressSlot): void {
  if (!Number.isInteger(slot.handle) || slot.handle < 1 || slot.handle > 0xffffffff) {
    throw new NativeError(EINVAL, "EINVAL", "bpf_tc_attach", `handle ${String(slot.handle)}: must be 1..2^32-1`);
  }
  if (!Number.isInteger(slot.priority) || slot.priority < 1 || slot.priority > 0xffff) {
    throw new NativeError(EINVAL, "EINVAL", "bpf_tc_attach", `priority ${String(slot.priority)}: must be 1..65535`);
  }
}

function isGone(e: unknown): boolean {
  return e instanceof NativeError && (e.errno === "ENODEV" || e.errno === "ENOENT");
}

/**
 * Removes the Paddock egress program at `handle`/`priority` on the interface: the leftover of
 * an owner that died without detaching (tc filters outlive their process). The caller decides
 * that the owner is dead (from its pid lock); this only refuses to remove a program that is not
 * Paddock's (a different program name: NativeError EBUSY). Returns true if one was removed.
 * The clsact qdisc is left in place: it may carry other owners' filters.
 */
export function removeEgressFilter(target: EgressTarget, handle: number, priority: number): boolean {
  checkSlot({ handle, priority });
  const a = addon();
  const where = { ...tcTarget(target), handle, priority };
  const progId = a.tcQueryEgress(where);
  if (progId === null) return false;
  const name = a.bpfProgramName(progId);
  if (name !== null && name !== EGRESS_PROGRAM_NAME) {
    throw new NativeError(16, "EBUSY", "bpf_tc_query", `handle ${handle} priority ${priority} holds program "${name}"`);
  }
  return a.tcDetachEgress(where);
}

/**
 * Removes a Paddock egress filter left at the old single slot (EGRESS_TC_HANDLE,
 * EGRESS_TC_PRIORITY) by a run that did not detach. Compatible wrapper of removeEgressFilter.
 */
export function removeEgressLeftovers(target: EgressTarget): boolean {
  return removeEgressFilter(target, EGRESS_TC_HANDLE, EGRESS_TC_PRIORITY);
}

/**
 * One service's tc clsact egress program on one interface (native/bpf/egress_policy.bpf.c),
 * loaded as its own instance: frames carrying the service's `mark` are sent only if they match
 * one of its `rules`; every other frame is passed on to the next tc filter (TC_ACT_UNSPEC), so
 * several services' programs chain on one interface, each at its own handle and priority.
 * detach() (also run at process exit if forgotten) removes only this program's filter.
 */
export class EgressPolicy {
  private obj: RawBpfObject | undefined;
  private readonly exitHook = (): void => this.detach();

  private constructor(
    obj: RawBpfObject,
    private readonly target: EgressTarget,
    /** The mark this program polices. */
    readonly mark: number,
    /** The validated rules compiled into the program (for the priv's own TypeScript check). */
    readonly rules: readonly EgressRule[],
    /** The tc slot this program sits in. */
    readonly slot: Readonly<EgressSlot>,
    private readonly createdQdisc: boolean,
    private readonly progId: number,
  ) {
    this.obj = obj;
    process.once("exit", this.exitHook);
  }

  /**
   * Loads a fresh instance of the program, writes the mark and rules to its config map (before
   * attaching: a live but unconfigured program passes everything on), and attaches it at
   * `handle`/`priority` (creating the clsact qdisc if missing). A filter already in that slot
   * is not replaced: NativeError EEXIST (remove a dead owner's with removeEgressFilter first).
   * Throws PacketPatternError for invalid rules, NativeError EINVAL for a bad mark, handle or
   * priority.
   */
  static attach(opts: EgressAttachOptions): EgressPolicy;
  /**
   * @deprecated The single-slot form: DHCP client rules at EGRESS_TC_HANDLE/EGRESS_TC_PRIORITY,
   * removing a leftover in that slot first. Use the form with rules, handle and priority.
   */
  static attach(opts: EgressTarget & { mark: number }): EgressPolicy;
  static attach(opts: EgressTarget & { mark: number; rules?: readonly EgressRule[]; handle?: number; priority?: number }): EgressPolicy {
    const legacy = opts.rules === undefined && opts.handle === undefined && opts.priority === undefined;
    const slot = { handle: opts.handle ?? EGRESS_TC_HANDLE, priority: opts.priority ?? EGRESS_TC_PRIORITY };
    if (!Number.isInteger(opts.mark) || opts.mark <= 0 || opts.mark > 0xffffffff) {
      throw new NativeError(EINVAL, "EINVAL", "bpf_map_update_elem", "mark must be 1..2^32-1 (0 means unset)");
    }
    checkSlot(slot);
    const rules = parseEgressRules(opts.rules ?? DHCP_CLIENT_EGRESS_RULES);
    const config = encodeEgressConfig(opts.mark, rules);
    const a = addon();
    const obj = new a.BpfObject(bpfObjectPath("egress_policy"));
    try {
      obj.mapUpdate("egress_config", key(0), config);
      if (legacy) removeEgressLeftovers(opts);
      const { createdQdisc, progId } = a.tcAttachEgress({
        ...tcTarget(opts),
        progFd: obj.programFd(EGRESS_PROGRAM_NAME),
        ...slot,
      });
      return new EgressPolicy(obj, { ...opts }, opts.mark, rules, slot, createdQdisc, progId);
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
   * Removes this program's filter, only if the slot still holds this program (another owner may
   * have taken the slot after removing ours). If this policy created the clsact qdisc and no
   * filter at all remains on it (ingress or egress), the qdisc goes too: destroying it would
   * otherwise take other owners' filters with it. Idempotent. An interface or namespace that no
   * longer exists took the filter with it, so that is not an error.
   */
  detach(): void {
    if (this.obj === undefined) return;
    process.removeListener("exit", this.exitHook);
    const a = addon();
    const where = { ...tcTarget(this.target), ...this.slot };
    try {
      if (a.tcQueryEgress(where) === this.progId) a.tcDetachEgress(where);
      if (this.createdQdisc) {
        const left = a.tcCountFilters(tcTarget(this.target));
        if (left.ingress === 0 && left.egress === 0) a.tcDestroyClsact(tcTarget(this.target));
      }
    } catch (e) {
      if (!isGone(e)) throw e;
    } finally {
      this.obj.close();
      this.obj = undefined;
    }
  }
}
