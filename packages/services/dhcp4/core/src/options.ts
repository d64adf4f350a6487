/**
 * DHCP options (RFC 2132 and later): the typed value of one option from its (RFC 3396
 * concatenated) bytes, and back.
 *
 * Decoding checks only structure: a length that fits the type (a subnet mask is 4 bytes, a list of
 * addresses a multiple of 4). Whether a value makes sense (an MTU of 20, T1 > T2) is the client's
 * decision, not the codec's. Empty lists and empty text are accepted where their meaning is clear
 * even though RFC 2132 gives most options a minimum length of 1 or 4; it never leaves a value
 * ambiguous, and real servers send them.
 */

import {
  bytesOf,
  ipv4At,
  parseIpv4,
  putU16,
  putU32,
  textOf,
  u16At,
  u32At,
} from "./bytes.ts";
import { decodeDnsName, decodeDnsNameList, encodeDnsName, encodeDnsNameList } from "./dns-name.ts";
import type { ClasslessRoute, DhcpOption, Ipv4 } from "./message.ts";
import { DhcpErrorCode, fail, ok, type DhcpError, type DhcpResult } from "./result.ts";

/** Option codes this codec gives a type to (the rest decode as `unknown`). */
export const OptionCode = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTERS: 3,
  DNS_SERVERS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  MTU: 26,
  BROADCAST: 28,
  NTP_SERVERS: 42,
  REQUESTED_ADDRESS: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  RAPID_COMMIT: 80,
  CLIENT_FQDN: 81,
  IPV6_ONLY_PREFERRED: 108,
  CAPTIVE_PORTAL: 114,
  DOMAIN_SEARCH: 119,
  CLASSLESS_ROUTES: 121,
  FORCERENEW_NONCE: 145,
  END: 255,
} as const;

/** RFC 4702 §2.1: the E flag of option 81 says the name is in DNS wire format. */
export const FQDN_FLAG_E = 0x04;

function badLength(code: number, len: number, want: string): { ok: false; error: DhcpError } {
  return fail(DhcpErrorCode.BAD_OPTION_LENGTH, `option ${code} has ${len} bytes, expected ${want}`);
}

function addressList(code: number, data: Uint8Array): DhcpResult<Ipv4[]> {
  if (data.length % 4 !== 0) return badLength(code, data.length, "a multiple of 4");
  const out: Ipv4[] = [];
  for (let i = 0; i < data.length; i += 4) out.push(ipv4At(data, i));
  return ok(out);
}

function fixed(code: number, data: Uint8Array, n: number): DhcpResult<null> {
  return data.length === n ? ok(null) : badLength(code, data.length, `exactly ${n}`);
}

/** RFC 3442: mask off host bits so the destination prints as a canonical CIDR. */
function decodeClasslessRoutes(data: Uint8Array): DhcpResult<ClasslessRoute[]> {
  const routes: ClasslessRoute[] = [];
  let pos = 0;
  while (pos < data.length) {
    const width = data[pos] as number;
    if (width > 32) {
      return fail(DhcpErrorCode.BAD_CLASSLESS_ROUTE, `route at offset ${pos} has prefix width ${width} > 32`);
    }
    const significant = Math.ceil(width / 8);
    if (pos + 1 + significant + 4 > data.length) {
      return fail(DhcpErrorCode.BAD_CLASSLESS_ROUTE, `route at offset ${pos} runs past the end of the option`);
    }
    const dest = [0, 0, 0, 0];
    for (let i = 0; i < significant; i++) dest[i] = data[pos + 1 + i] as number;
    // Host bits beyond the width are ignored (RFC 3442 §3 sends only the significant octets).
    const last = significant - 1;
    if (width % 8 !== 0 && last >= 0) dest[last] = (dest[last] as number) & (0xff << (8 - (width % 8))) & 0xff;
    routes.push({
      destination: `${dest.join(".")}/${width}`,
      router: ipv4At(data, pos + 1 + significant),
    });
    pos += 1 + significant + 4;
  }
  return ok(routes);
}

function encodeClasslessRoutes(routes: readonly ClasslessRoute[]): DhcpResult<Uint8Array> {
  const out: number[] = [];
  for (const r of routes) {
    const m = /^([^/]+)\/(\d{1,2})$/.exec(r.destination);
    const dest = m ? parseIpv4(m[1] as string) : null;
    const router = parseIpv4(r.router);
    const width = m ? Number(m[2]) : NaN;
    if (dest === null || router === null || !(width <= 32)) {
      return fail(DhcpErrorCode.UNENCODABLE, `classless route ${JSON.stringify(r)} is not a CIDR and an address`);
    }
    out.push(width, ...dest.subarray(0, Math.ceil(width / 8)), ...router);
  }
  return ok(Uint8Array.from(out));
}

/**
 * The typed option for `code` from its complete data. Unknown codes, and the pad and end codes
 * (which never reach here from the decoder), become `unknown` with the bytes kept.
 */
export function decodeOption(code: number, data: Uint8Array): DhcpResult<DhcpOption> {
  switch (code) {
    case OptionCode.SUBNET_MASK: {
      const f = fixed(code, data, 4);
      return f.ok ? ok({ kind: "subnetMask", code, mask: ipv4At(data, 0) }) : f;
    }
    case OptionCode.ROUTERS:
    case OptionCode.DNS_SERVERS:
    case OptionCode.NTP_SERVERS: {
      const a = addressList(code, data);
      if (!a.ok) return a;
      if (code === OptionCode.ROUTERS) return ok({ kind: "routers", code, addresses: a.value });
      if (code === OptionCode.DNS_SERVERS) return ok({ kind: "dnsServers", code, addresses: a.value });
      return ok({ kind: "ntpServers", code, addresses: a.value });
    }
    case OptionCode.HOSTNAME:
      return ok({ kind: "hostname", code, name: textOf(data) });
    case OptionCode.DOMAIN_NAME:
      return ok({ kind: "domainName", code, name: textOf(data) });
    case OptionCode.MESSAGE:
      return ok({ kind: "message", code, text: textOf(data) });
    case OptionCode.CAPTIVE_PORTAL:
      return ok({ kind: "captivePortal", code, uri: textOf(data) });
    case OptionCode.MTU: {
      const f = fixed(code, data, 2);
      return f.ok ? ok({ kind: "mtu", code, mtu: u16At(data, 0) }) : f;
    }
    case OptionCode.MAX_MESSAGE_SIZE: {
      const f = fixed(code, data, 2);
      return f.ok ? ok({ kind: "maxMessageSize", code, size: u16At(data, 0) }) : f;
    }
    case OptionCode.BROADCAST:
    case OptionCode.REQUESTED_ADDRESS:
    case OptionCode.SERVER_ID: {
      const f = fixed(code, data, 4);
      if (!f.ok) return f;
      const address = ipv4At(data, 0);
      if (code === OptionCode.BROADCAST) return ok({ kind: "broadcast", code, address });
      if (code === OptionCode.REQUESTED_ADDRESS) return ok({ kind: "requestedAddress", code, address });
      return ok({ kind: "serverId", code, address });
    }
    case OptionCode.LEASE_TIME:
    case OptionCode.RENEWAL_TIME:
    case OptionCode.REBINDING_TIME:
    case OptionCode.IPV6_ONLY_PREFERRED: {
      const f = fixed(code, data, 4);
      if (!f.ok) return f;
      const seconds = u32At(data, 0);
      if (code === OptionCode.LEASE_TIME) return ok({ kind: "leaseTime", code, seconds });
      if (code === OptionCode.RENEWAL_TIME) return ok({ kind: "renewalTime", code, seconds });
      if (code === OptionCode.REBINDING_TIME) return ok({ kind: "rebindingTime", code, seconds });
      return ok({ kind: "ipv6OnlyPreferred", code, seconds });
    }
    case OptionCode.OVERLOAD: {
      const f = fixed(code, data, 1);
      if (!f.ok) return f;
      const value = data[0] as number;
      if (value !== 1 && value !== 2 && value !== 3) {
        return fail(DhcpErrorCode.BAD_OVERLOAD, `option 52 has value ${value}, expected 1, 2 or 3`);
      }
      return ok({ kind: "overload", code, value });
    }
    case OptionCode.MESSAGE_TYPE: {
      const f = fixed(code, data, 1);
      return f.ok ? ok({ kind: "messageType", code, type: data[0] as number }) : f;
    }
    case OptionCode.PARAMETER_REQUEST_LIST:
      return ok({ kind: "parameterRequestList", code, codes: Array.from(data) });
    case OptionCode.VENDOR_CLASS:
      return ok({ kind: "vendorClass", code, data: data.slice() });
    case OptionCode.CLIENT_ID:
      return ok({ kind: "clientId", code, data: data.slice() });
    case OptionCode.FORCERENEW_NONCE:
      return ok({ kind: "forcerenewNonce", code, data: data.slice() });
    case OptionCode.RAPID_COMMIT: {
      const f = fixed(code, data, 0);
      return f.ok ? ok({ kind: "rapidCommit", code }) : f;
    }
    case OptionCode.CLIENT_FQDN: {
      if (data.length < 3) return badLength(code, data.length, "at least 3");
      const flags = data[0] as number;
      const rest = data.subarray(3);
      let name: string;
      if (flags & FQDN_FLAG_E) {
        const n = decodeDnsName(rest);
        if (!n.ok) return n;
        name = n.value === "." ? "" : n.value;
      } else {
        // RFC 4702 §2.3.2 deprecated ASCII form; some clients NUL-terminate it, and servers
        // (Kea) mark a fully qualified name with a final dot: dropped, as in the wire form's text.
        let end = rest.length;
        while (end > 0 && rest[end - 1] === 0) end--;
        if (end > 1 && rest[end - 1] === 0x2e) end--;
        name = textOf(rest.subarray(0, end));
      }
      return ok({ kind: "clientFqdn", code, flags, rcode1: data[1] as number, rcode2: data[2] as number, name });
    }
    case OptionCode.DOMAIN_SEARCH: {
      const n = decodeDnsNameList(data);
      return n.ok ? ok({ kind: "domainSearch", code, names: n.value }) : n;
    }
    case OptionCode.CLASSLESS_ROUTES: {
      const r = decodeClasslessRoutes(data);
      return r.ok ? ok({ kind: "classlessRoutes", code, routes: r.value }) : r;
    }
    default:
      return ok({ kind: "unknown", code, data: data.slice() });
  }
}

function addr(text: string, what: string): DhcpResult<Uint8Array> {
  const b = parseIpv4(text);
  return b === null ? fail(DhcpErrorCode.UNENCODABLE, `${what} ${JSON.stringify(text)} is not an IPv4 address`) : ok(b);
}

function addrs(list: readonly string[], what: string): DhcpResult<Uint8Array> {
  const out = new Uint8Array(list.length * 4);
  for (let i = 0; i < list.length; i++) {
    const a = addr(list[i] as string, what);
    if (!a.ok) return a;
    out.set(a.value, i * 4);
  }
  return ok(out);
}

function uint(value: number, bytes: 1 | 2 | 4, what: string): DhcpResult<Uint8Array> {
  const max = bytes === 1 ? 0xff : bytes === 2 ? 0xffff : 0xffffffff;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    return fail(DhcpErrorCode.UNENCODABLE, `${what} ${value} is not an integer in 0..${max}`);
  }
  const out = new Uint8Array(bytes);
  if (bytes === 1) out[0] = value;
  else if (bytes === 2) putU16(out, 0, value);
  else putU32(out, 0, value);
  return ok(out);
}

/** The code and complete data of an option (before any RFC 3396 splitting). */
export function encodeOption(option: DhcpOption): DhcpResult<{ code: number; data: Uint8Array }> {
  const code = option.code;
  if (!Number.isInteger(code) || code < 1 || code > 254) {
    return fail(DhcpErrorCode.UNENCODABLE, `option code ${code} is not in 1..254`);
  }
  const done = (r: DhcpResult<Uint8Array>): DhcpResult<{ code: number; data: Uint8Array }> =>
    r.ok ? ok({ code, data: r.value }) : r;
  switch (option.kind) {
    case "subnetMask":
      return done(addr(option.mask, "subnet mask"));
    case "routers":
    case "dnsServers":
    case "ntpServers":
      return done(addrs(option.addresses, `option ${code} address`));
    case "hostname":
    case "domainName":
      return done(ok(bytesOf(option.name)));
    case "message":
      return done(ok(bytesOf(option.text)));
    case "captivePortal":
      return done(ok(bytesOf(option.uri)));
    case "mtu":
      return done(uint(option.mtu, 2, "MTU"));
    case "maxMessageSize":
      return done(uint(option.size, 2, "maximum message size"));
    case "broadcast":
    case "requestedAddress":
    case "serverId":
      return done(addr(option.address, `option ${code} address`));
    case "leaseTime":
    case "renewalTime":
    case "rebindingTime":
    case "ipv6OnlyPreferred":
      return done(uint(option.seconds, 4, `option ${code} seconds`));
    case "overload":
      return done(uint(option.value, 1, "overload"));
    case "messageType":
      return done(uint(option.type, 1, "message type"));
    case "parameterRequestList": {
      for (const c of option.codes) {
        if (!Number.isInteger(c) || c < 0 || c > 255) return fail(DhcpErrorCode.UNENCODABLE, `requested code ${c} is not in 0..255`);
      }
      return done(ok(Uint8Array.from(option.codes)));
    }
    case "vendorClass":
    case "clientId":
    case "forcerenewNonce":
    case "unknown":
    case "malformed":
      return done(ok(option.data));
    case "rapidCommit":
      return done(ok(new Uint8Array(0)));
    case "clientFqdn": {
      const head = [uint(option.flags, 1, "FQDN flags"), uint(option.rcode1, 1, "RCODE1"), uint(option.rcode2, 1, "RCODE2")];
      const bytes: number[] = [];
      for (const h of head) {
        if (!h.ok) return h;
        bytes.push(...h.value);
      }
      const name = option.flags & FQDN_FLAG_E ? encodeDnsName(option.name) : ok(bytesOf(option.name));
      if (!name.ok) return name;
      return done(ok(Uint8Array.from([...bytes, ...name.value])));
    }
    case "domainSearch":
      return done(encodeDnsNameList(option.names));
    case "classlessRoutes":
      return done(encodeClasslessRoutes(option.routes));
  }
}
