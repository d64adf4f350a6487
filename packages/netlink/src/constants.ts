/**
 * Kernel constants for rtnetlink, named exactly as in the Linux UAPI headers
 * (<linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>, <linux/if_addr.h>, <linux/if.h>),
 * so a reader can grep the kernel for any name used here. Values were checked against the
 * headers of Debian 12's linux-libc-dev with a C program printing each one.
 */

// ---- <linux/netlink.h> ----------------------------------------------------------------------

/** Netlink messages and attributes are aligned to 4 bytes (NLMSG_ALIGNTO, NLA_ALIGNTO). */
export const NLMSG_ALIGNTO = 4;
/** sizeof(struct nlmsghdr): u32 len, u16 type, u16 flags, u32 seq, u32 pid. */
export const NLMSG_HDRLEN = 16;
/** sizeof(struct nlattr) / sizeof(struct rtattr): u16 len, u16 type. */
export const NLA_HDRLEN = 4;

/** Control message: nothing; to be ignored. */
export const NLMSG_NOOP = 0x1;
/** Control message: an error or, with error 0, an acknowledgement. */
export const NLMSG_ERROR = 0x2;
/** Control message: the end of a multipart (dump) reply. */
export const NLMSG_DONE = 0x3;
/** Control message: data lost. */
export const NLMSG_OVERRUN = 0x4;
/** Types below this are reserved control messages. */
export const NLMSG_MIN_TYPE = 0x10;

/** The message is a request (must be set on everything user space sends). */
export const NLM_F_REQUEST = 0x01;
/** Part of a multipart reply, terminated by NLMSG_DONE. */
export const NLM_F_MULTI = 0x02;
/** Ask for an acknowledgement (an NLMSG_ERROR with error 0) on success. */
export const NLM_F_ACK = 0x04;
/** Echo the resulting notification back to the requester. */
export const NLM_F_ECHO = 0x08;
/** The dump was inconsistent because the table changed while it was being read. */
export const NLM_F_DUMP_INTR = 0x10;
/** The dump was filtered as requested. */
export const NLM_F_DUMP_FILTERED = 0x20;
/** GET modifier: return the whole table. */
export const NLM_F_ROOT = 0x100;
/** GET modifier: return all matching entries. */
export const NLM_F_MATCH = 0x200;
/** GET modifier: a dump (NLM_F_ROOT | NLM_F_MATCH). */
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** NEW modifier: override an existing object. */
export const NLM_F_REPLACE = 0x100;
/** NEW modifier: fail with EEXIST if the object exists. */
export const NLM_F_EXCL = 0x200;
/** NEW modifier: create the object if it does not exist. */
export const NLM_F_CREATE = 0x400;
/** NEW modifier: add to the end of a list. */
export const NLM_F_APPEND = 0x800;
/** ACK flag: the echoed request was capped to its header. */
export const NLM_F_CAPPED = 0x100;
/** ACK flag: extended-ack TLVs follow the (possibly capped) echoed request. */
export const NLM_F_ACK_TLVS = 0x200;

/** enum nlmsgerr_attrs: extended acknowledgement TLVs after struct nlmsgerr. */
export const NLMSGERR_ATTR_UNUSED = 0;
/** Extended ack: the kernel's human-readable error message (NUL-terminated string). */
export const NLMSGERR_ATTR_MSG = 1;
/** Extended ack: offset of the offending attribute in the original request (u32). */
export const NLMSGERR_ATTR_OFFS = 2;
/** Extended ack: a subsystem-specific cookie (binary). */
export const NLMSGERR_ATTR_COOKIE = 3;
/** Extended ack: the policy of a rejected attribute (nested). */
export const NLMSGERR_ATTR_POLICY = 4;
/** Extended ack: the type of a missing required attribute (u32). */
export const NLMSGERR_ATTR_MISS_TYPE = 5;
/** Extended ack: the offset of the nest where an attribute was missing (u32). */
export const NLMSGERR_ATTR_MISS_NEST = 6;

/** Attribute type flag: the payload is itself a list of attributes. */
export const NLA_F_NESTED = 0x8000;
/** Attribute type flag: the payload is in network byte order. */
export const NLA_F_NET_BYTEORDER = 0x4000;
/** Mask selecting the attribute type from nla_type. */
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

// ---- <linux/rtnetlink.h>: message types -----------------------------------------------------

/** Create or change a link (also the reply to RTM_GETLINK and the link notification). */
export const RTM_NEWLINK = 16;
/** Delete a link; also the notification that one went away. */
export const RTM_DELLINK = 17;
/** Get one link or dump all. */
export const RTM_GETLINK = 18;
/** Change a link (older form of RTM_NEWLINK without create). */
export const RTM_SETLINK = 19;
/** Add an address; also its notification and the reply to RTM_GETADDR. */
export const RTM_NEWADDR = 20;
/** Delete an address; also its notification. */
export const RTM_DELADDR = 21;
/** Dump addresses. */
export const RTM_GETADDR = 22;
/** Add a route; also its notification and the reply to RTM_GETROUTE. */
export const RTM_NEWROUTE = 24;
/** Delete a route; also its notification. */
export const RTM_DELROUTE = 25;
/** Get a route or dump the routing tables. */
export const RTM_GETROUTE = 26;

// ---- multicast groups (enum rtnetlink_groups) -----------------------------------------------

/** Group for link changes (RTM_NEWLINK/RTM_DELLINK, including carrier and operstate). */
export const RTNLGRP_LINK = 1;
/** Group for IPv4 address changes. */
export const RTNLGRP_IPV4_IFADDR = 5;
/** Group for IPv4 route changes. */
export const RTNLGRP_IPV4_ROUTE = 7;
/** Group for IPv6 address changes (including the kernel's own expiry of a lifetime). */
export const RTNLGRP_IPV6_IFADDR = 9;
/** Group for IPv6 route changes. */
export const RTNLGRP_IPV6_ROUTE = 11;

// ---- address families -------------------------------------------------------------------------

/** Any family (link messages). */
export const AF_UNSPEC = 0;
/** IPv4. */
export const AF_INET = 2;
/** IPv6 (addresses typed as RFC 5952 text, like IPv4's dotted quads). */
export const AF_INET6 = 10;

// ---- <linux/if_link.h>: struct ifinfomsg attributes -----------------------------------------

/** Link-layer address (MAC for Ethernet). */
export const IFLA_ADDRESS = 1;
/** Link-layer broadcast address. */
export const IFLA_BROADCAST = 2;
/** Interface name, NUL-terminated, at most IFNAMSIZ-1 bytes. */
export const IFLA_IFNAME = 3;
/** MTU (u32). */
export const IFLA_MTU = 4;
/** RFC 2863 operational state (u8, IF_OPER_*). */
export const IFLA_OPERSTATE = 16;
/** Nested: link kind and kind-specific data. */
export const IFLA_LINKINFO = 18;
/** Filter mask for link dumps (u32, RTEXT_FILTER_*). */
export const IFLA_EXT_MASK = 29;
/** IFLA_EXT_MASK bit: leave the per-link statistics out of replies (we never read them). */
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;
/** Carrier present (u8: 0 or 1). */
export const IFLA_CARRIER = 33;
/** Inside IFLA_LINKINFO: the link kind ("veth", "bridge", ...). */
export const IFLA_INFO_KIND = 1;
/** Inside IFLA_LINKINFO: kind-specific nested data. */
export const IFLA_INFO_DATA = 2;

// ---- <linux/if.h>: interface flags (ifi_flags) ----------------------------------------------

/** Administratively up. */
export const IFF_UP = 0x1;
/** Has a valid broadcast address. */
export const IFF_BROADCAST = 0x2;
/** Loopback interface. */
export const IFF_LOOPBACK = 0x8;
/** Point-to-point link. */
export const IFF_POINTOPOINT = 0x10;
/** Operationally up (RFC 2863 state up, or unknown). */
export const IFF_RUNNING = 0x40;
/** No ARP on this link. */
export const IFF_NOARP = 0x80;
/** Promiscuous mode. */
export const IFF_PROMISC = 0x100;
/** Supports multicast. */
export const IFF_MULTICAST = 0x1000;
/** The driver signals L1 up (carrier). */
export const IFF_LOWER_UP = 0x10000;
/** The driver signals dormant. */
export const IFF_DORMANT = 0x20000;

/** RFC 2863 operational states (IFLA_OPERSTATE values). */
export const IF_OPER_UNKNOWN = 0;
/** RFC 2863: not present. */
export const IF_OPER_NOTPRESENT = 1;
/** RFC 2863: down. */
export const IF_OPER_DOWN = 2;
/** RFC 2863: lower layer down. */
export const IF_OPER_LOWERLAYERDOWN = 3;
/** RFC 2863: testing. */
export const IF_OPER_TESTING = 4;
/** RFC 2863: dormant. */
export const IF_OPER_DORMANT = 5;
/** RFC 2863: up. */
export const IF_OPER_UP = 6;

// ---- <linux/if_addr.h>: struct ifaddrmsg attributes -----------------------------------------

/** Prefix address (the peer for point-to-point links). */
export const IFA_ADDRESS = 1;
/** The local interface address. */
export const IFA_LOCAL = 2;
/** Address label (interface alias such as "eth0:1"). */
export const IFA_LABEL = 3;
/** Broadcast address. */
export const IFA_BROADCAST = 4;
/** struct ifa_cacheinfo: preferred and valid lifetimes, timestamps. */
export const IFA_CACHEINFO = 6;
/** u32 flags extending the u8 ifa_flags (IFA_F_*). */
export const IFA_FLAGS = 8;
/** Metric for the prefix route the kernel adds for this address. */
export const IFA_RT_PRIORITY = 9;

/** Secondary address (another address in an existing prefix). */
export const IFA_F_SECONDARY = 0x01;
/** No duplicate address detection. */
export const IFA_F_NODAD = 0x02;
/** Preferred lifetime reached zero. */
export const IFA_F_DEPRECATED = 0x20;
/** Infinite lifetimes. */
export const IFA_F_PERMANENT = 0x80;
/** Do not add the prefix route for this address. */
export const IFA_F_NOPREFIXROUTE = 0x200;
/** IPv6: duplicate address detection failed; the address is unusable (RFC 4862 §5.4.5). */
export const IFA_F_DADFAILED = 0x08;
/** IPv6: duplicate address detection still running; not yet usable as a source. */
export const IFA_F_TENTATIVE = 0x40;
/** IPv6: the kernel makes and refreshes RFC 8981 temporary addresses from this one (use_tempaddr > 0). */
export const IFA_F_MANAGETEMPADDR = 0x100;
/** Lifetime value meaning "forever" in struct ifa_cacheinfo. */
export const INFINITY_LIFE_TIME = 0xffffffff;

// ---- <linux/rtnetlink.h>: struct rtmsg ------------------------------------------------------

/** Destination prefix. */
export const RTA_DST = 1;
/** Source prefix (policy routing). */
export const RTA_SRC = 2;
/** Input interface index. */
export const RTA_IIF = 3;
/** Output interface index (u32). */
export const RTA_OIF = 4;
/** Gateway address. */
export const RTA_GATEWAY = 5;
/** Route metric (u32). */
export const RTA_PRIORITY = 6;
/** Preferred source address. */
export const RTA_PREFSRC = 7;
/** Nested route metrics (RTAX_*). */
export const RTA_METRICS = 8;
/** Multipath next hops. */
export const RTA_MULTIPATH = 9;
/** struct rta_cacheinfo (a dump's answer; rta_expires holds an IPv6 route's time left). */
export const RTA_CACHEINFO = 12;
/** Routing table id (u32; rtm_table holds only the low 8 bits). */
export const RTA_TABLE = 15;
/** RFC 4191 router preference of an IPv6 route (u8: ICMPV6_ROUTER_PREF_*). */
export const RTA_PREF = 20;
/** Seconds until the kernel removes an IPv6 route (u32; a request attribute, RTF_EXPIRES). */
export const RTA_EXPIRES = 23;
/** RFC 4191 §2.1 preference 01: high (the kernel's ICMPV6_ROUTER_PREF_HIGH). */
export const ICMPV6_ROUTER_PREF_HIGH = 1;
/** RFC 4191 §2.1 preference 00: medium, the default. */
export const ICMPV6_ROUTER_PREF_MEDIUM = 0;
/** RFC 4191 §2.1 preference 11: low. */
export const ICMPV6_ROUTER_PREF_LOW = 3;

/** Unspecified table (dumps: all tables). */
export const RT_TABLE_UNSPEC = 0;
/** The main table, where `ip route` works by default. */
export const RT_TABLE_MAIN = 254;
/** The local table (local and broadcast routes the kernel maintains). */
export const RT_TABLE_LOCAL = 255;

/** Route scope: global. */
export const RT_SCOPE_UNIVERSE = 0;
/** Route scope: directly attached link. */
export const RT_SCOPE_LINK = 253;
/** Route scope: this host. */
export const RT_SCOPE_HOST = 254;
/** Route scope: no destination. */
export const RT_SCOPE_NOWHERE = 255;

/** Route type: unknown. */
export const RTN_UNSPEC = 0;
/** Route type: gateway or direct route. */
export const RTN_UNICAST = 1;
/** Route type: accept locally. */
export const RTN_LOCAL = 2;
/** Route type: accept locally as broadcast. */
export const RTN_BROADCAST = 3;
/** Route type: drop silently. */
export const RTN_BLACKHOLE = 6;
/** Route type: destination unreachable. */
export const RTN_UNREACHABLE = 7;

/** rtm_flags: the route is a cache clone (not a FIB entry). */
export const RTM_F_CLONED = 0x200;

/** Route origin: unknown. */
export const RTPROT_UNSPEC = 0;
/** Route origin: the kernel (prefix routes of addresses). */
export const RTPROT_KERNEL = 2;
/** Route origin: boot-time configuration (the `ip route` default). */
export const RTPROT_BOOT = 3;
/** Route origin: administrator. */
export const RTPROT_STATIC = 4;
/** Route origin: a DHCP client (dhcpcd, systemd-networkd). */
export const RTPROT_DHCP = 16;
/**
 * Route origin: Paddock. Routes that Paddock installs carry this `rtm_protocol`, so a restarted
 * priv can prove which routes it owns and remove only those (DESIGN.md invariant 5), and the
 * kernel's delete matches on it. 176 (0xb0) is free in the kernel's list (RTPROT_* in
 * <linux/rtnetlink.h>: 0–18, 42, 99, 186–189, 192) and in iproute2's /etc/iproute2/rt_protos;
 * routing daemons we know of (FRR 186–198, BIRD 12, Open/R 99, Babel 42) avoid it. `ip route` shows it
 * as "proto 176" unless /etc/iproute2/rt_protos.d names it.
 */
export const RTPROT_PADDOCK = 176;
