/**
 * Protocol constants, named as their RFCs name them, and the core's own bounds. Each bound says
 * why it has that value; what is over a bound is dropped and counted, never an error.
 */

/** ICMPv6 type of a Router Solicitation (RFC 4861 §4.1). */
export const ICMPV6_ROUTER_SOLICITATION = 133;
/** ICMPv6 type of a Router Advertisement (RFC 4861 §4.2). */
export const ICMPV6_ROUTER_ADVERTISEMENT = 134;
/** IPv6 next header value of ICMPv6 (RFC 4443). */
export const IPPROTO_ICMPV6 = 58;
/** EtherType of IPv6 (RFC 2464). */
export const ETHERTYPE_IPV6 = 0x86dd;
/** RFC 4861 §6.1.2: ND messages are sent with hop limit 255, so a received 255 proves on-link. */
export const ND_HOP_LIMIT = 255;

/** RFC 4861 §10 (host constants): wait up to 1 s before the first solicitation. */
export const MAX_RTR_SOLICITATION_DELAY_MS = 1_000;
/** RFC 4861 §10: 4 s between solicitations. */
export const RTR_SOLICITATION_INTERVAL_MS = 4_000;
/** RFC 4861 §10: 3 solicitations, then (RFC 4861) stop or (RFC 7559) go on with backoff. */
export const MAX_RTR_SOLICITATIONS = 3;
/** RFC 7559 §2: the backoff's ceiling (MAX_RTR_SOLICITATION_INTERVAL), one hour. */
export const MAX_RTR_SOLICITATION_INTERVAL_MS = 3_600_000;
/** RFC 7559 §2 (RFC 3315 §14 RAND): each backed-off interval is randomised by ±10 %. */
export const RTR_SOLICITATION_JITTER = 0.1;

/** RFC 4861 §4.6.2 / RFC 4191 / RFC 8106 / RFC 8781: 0xffffffff seconds means "infinity". */
export const INFINITE_LIFETIME = 0xffffffff;
/** RFC 8200 §5: no IPv6 link may have an MTU below 1280; an MTU option below it is ignored. */
export const IPV6_MIN_MTU = 1280;
/** RFC 4862 §5.5.3 e): a received valid lifetime may shorten a SLAAC address only down to 2 h. */
export const TWO_HOURS_S = 7_200;

/**
 * The largest ND packet accepted (IPv6 header + 65535 bytes of payload, the most a payload length
 * field can say without a jumbogram): bounds every loop over options to 8191 iterations.
 */
export const MAX_ND_PACKET_BYTES = 40 + 65_535;

/** Routers kept at once: RFC 4861 §6.3.4 needs "at least two"; 8 covers any real link with room. */
export const MAX_ROUTERS = 8;
/** Prefixes kept (on-link or autonomous): a hostile RA with 1000 PIOs must not make 1000 addresses. */
export const MAX_PREFIXES = 16;
/** RFC 4191 routes kept: enough for real multi-homed links, bounded against a flood of RIOs. */
export const MAX_ROUTES = 16;
/** RDNSS servers kept: resolv.conf uses 3 (MAXNS); 8 lets several routers each bring their own. */
export const MAX_RDNSS = 8;
/** DNSSL search names kept: glibc before 2.26 used 6 (MAXDNSRCH); 8 leaves room for two routers. */
export const MAX_SEARCH_NAMES = 8;
/** RFC 8781 NAT64 prefixes kept: one per router in practice; 4 allows a change-over on two routers. */
export const MAX_PREF64 = 4;
