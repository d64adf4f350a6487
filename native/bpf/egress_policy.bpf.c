// SPDX-License-Identifier: GPL-2.0
// tc clsact egress program: the kernel's second line behind priv's egress policy (DESIGN.md
// invariant 3). One instance per service: each is loaded separately (its own maps), attached at
// the service's own tc handle and priority, and configured with the service's socket mark and
// its egress rules (native/lib/egress-rules.ts encodes them; the semantics are written there).
//
//   skb->mark != our mark (or we are unconfigured)  -> TC_ACT_UNSPEC: not ours; tc goes on to
//                                                      the next filter (another service's
//                                                      program, the host's own), or passes it
//   marked, matching any rule                        -> TC_ACT_OK
//   marked, matching none                            -> TC_ACT_SHOT
//
// The frame is parsed once (IPv4 without fragments, IPv6 with no extension headers, ARP), then
// compared with each rule in a bounded loop over the fixed-size table.
#include <linux/pkt_cls.h>
#include "udp4.h"

// Counter slots, shared with native/lib/ebpf.ts.
#define COUNTER_ALLOWED 0   // marked and matching a rule
#define COUNTER_DROPPED 1   // marked and matching none
#define COUNTER_UNMARKED 2  // not ours: passed on uninspected
#define COUNTER_SLOTS 3

// Shared with native/lib/egress-rules.ts (MAX_EGRESS_RULES, FAMILY_CODE, MATCH_*).
#define EGRESS_MAX_RULES 8
#define FAMILY_IPV4 1
#define FAMILY_IPV6 2
#define FAMILY_ARP 3
#define MATCH_SRC_PORT 1
#define MATCH_DST_PORT 2
#define MATCH_PAYLOAD_BYTE 4
#define MATCH_ICMPV6_TYPE 8

#define IPV6_HLEN 40

// One rule; host byte order. family 0 is an empty slot (never matches).
struct egress_rule {
  __u8 family;
  __u8 protocol;  // IPPROTO_UDP or IPPROTO_ICMPV6 (unused for ARP)
  __u8 flags;     // MATCH_*: which of the fields below are checked
  __u8 icmpv6_type;
  __u16 src_port;
  __u16 dst_port;
  __u8 first_payload_byte;
  __u8 pad[3];
};

struct egress_config {
  __u32 mark;  // 0 = not configured: every frame is passed on
  __u32 rule_count;
  struct egress_rule rules[EGRESS_MAX_RULES];
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, COUNTER_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} egress_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct egress_config);
} egress_config SEC(".maps");

// What the rules are compared with, read from the frame once. A have_* flag is 0 when the
// field's bytes are not in the frame: a rule naming that field then does not match.
struct frame_facts {
  __u8 family;  // FAMILY_*, or 0 for anything else (including IPv4 fragments)
  __u8 protocol;
  __u8 have_sport, have_dport, have_type, have_byte;
  __u16 sport, dport;
  __u8 type, byte;
};

static __always_inline void count(__u32 slot) {
  __u64 *v = bpf_map_lookup_elem(&egress_counters, &slot);
  if (v) __sync_fetch_and_add(v, 1);
}

static __always_inline void read_facts(struct __sk_buff *skb, struct frame_facts *f) {
  __u16 ethertype;
  if (bpf_skb_load_bytes(skb, 12, &ethertype, sizeof ethertype) < 0) return;
  __u32 l4 = 0;
  if (ethertype == bpf_htons(ETH_P_ARP)) {
    f->family = FAMILY_ARP;
    return;
  } else if (ethertype == bpf_htons(ETH_P_IP)) {
    l4 = ipv4_l4_offset(skb, &f->protocol);
    if (l4 == 0) return;
    f->family = FAMILY_IPV4;
  } else if (ethertype == bpf_htons(ETH_P_IPV6)) {
    __u8 ip6[IPV6_HLEN];
    if (bpf_skb_load_bytes(skb, PADDOCK_ETH_HLEN, ip6, sizeof ip6) < 0) return;
    if ((ip6[0] >> 4) != 6) return;
    // Next Header must be the transport itself: extension headers are not walked (see
    // native/lib/egress-rules.ts), so a packet carrying any matches no rule.
    f->protocol = ip6[6];
    f->family = FAMILY_IPV6;
    l4 = PADDOCK_ETH_HLEN + IPV6_HLEN;
  } else {
    return;
  }
  __u8 b[2];
  if (bpf_skb_load_bytes(skb, l4, b, 2) == 0) {
    f->have_sport = 1;
    f->sport = (b[0] << 8) | b[1];
  }
  if (bpf_skb_load_bytes(skb, l4 + 2, b, 2) == 0) {
    f->have_dport = 1;
    f->dport = (b[0] << 8) | b[1];
  }
  if (bpf_skb_load_bytes(skb, l4, b, 1) == 0) {
    f->have_type = 1;
    f->type = b[0];
  }
  if (bpf_skb_load_bytes(skb, l4 + 8, b, 1) == 0) {
    f->have_byte = 1;
    f->byte = b[0];
  }
}

static __always_inline int rule_matches(const struct egress_rule *r, const struct frame_facts *f) {
  if (r->family == 0 || r->family != f->family) return 0;
  if (r->family == FAMILY_ARP) return 1;
  if (r->protocol != f->protocol) return 0;
  if ((r->flags & MATCH_SRC_PORT) && (!f->have_sport || f->sport != r->src_port)) return 0;
  if ((r->flags & MATCH_DST_PORT) && (!f->have_dport || f->dport != r->dst_port)) return 0;
  if ((r->flags & MATCH_PAYLOAD_BYTE) && (!f->have_byte || f->byte != r->first_payload_byte)) return 0;
  if ((r->flags & MATCH_ICMPV6_TYPE) && (!f->have_type || f->type != r->icmpv6_type)) return 0;
  return 1;
}

SEC("tc")
int paddock_egress(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct egress_config *cfg = bpf_map_lookup_elem(&egress_config, &zero);
  if (!cfg || cfg->mark == 0 || skb->mark != cfg->mark) {
    count(COUNTER_UNMARKED);
    return TC_ACT_UNSPEC;
  }
  struct frame_facts facts = {};
  read_facts(skb, &facts);
  __u32 n = cfg->rule_count;
  for (__u32 i = 0; i < EGRESS_MAX_RULES; i++) {
    if (i >= n) break;
    if (rule_matches(&cfg->rules[i], &facts)) {
      count(COUNTER_ALLOWED);
      return TC_ACT_OK;
    }
  }
  count(COUNTER_DROPPED);
  return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
