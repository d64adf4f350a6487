// SPDX-License-Identifier: GPL-2.0
// tc clsact egress program: the kernel's second line behind priv's egress policy (DESIGN.md
// invariant 3). Frames whose skb->mark equals priv's data-path mark (SO_MARK on its packet
// socket) are dropped unless they match the DHCP client's egress pattern: Ethernet II IPv4,
// UDP, not a fragment, source port 68 → destination port 67, BOOTP op 1 (BOOTREQUEST,
// RFC 2131 §2). Every other frame (the host's own traffic) passes untouched. The checks are
// a fixed, bounded sequence of loads: no loops.
#include <linux/pkt_cls.h>
#include "udp4.h"

// Counter slots, shared with native/lib/ebpf.ts.
#define COUNTER_ALLOWED 0   // marked and matching the pattern
#define COUNTER_DROPPED 1   // marked and not matching
#define COUNTER_UNMARKED 2  // not ours: passed without inspection
#define COUNTER_SLOTS 3

#define BOOTREQUEST 1

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, COUNTER_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} egress_counters SEC(".maps");

// Slot 0: the mark to police. 0 means "not configured": everything passes, so a half-set-up
// program can never cut the host off.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} egress_config SEC(".maps");

static __always_inline void count(__u32 slot) {
  __u64 *v = bpf_map_lookup_elem(&egress_counters, &slot);
  if (v) __sync_fetch_and_add(v, 1);
}

static __always_inline int is_bootrequest(struct __sk_buff *skb) {
  __u32 at = udp4_offset(skb);
  if (at == 0) return 0;
  // UDP source port, destination port, then the first byte of the BOOTP message (op).
  __u8 udp[9];
  if (bpf_skb_load_bytes(skb, at, udp, sizeof udp) < 0) return 0;
  __u16 sport = (udp[0] << 8) | udp[1];
  __u16 dport = (udp[2] << 8) | udp[3];
  return sport == 68 && dport == 67 && udp[8] == BOOTREQUEST;
}

SEC("tc")
int paddock_egress(struct __sk_buff *skb) {
  __u32 zero = 0;
  __u32 *mark = bpf_map_lookup_elem(&egress_config, &zero);
  if (!mark || *mark == 0 || skb->mark != *mark) {
    count(COUNTER_UNMARKED);
    return TC_ACT_OK;
  }
  if (is_bootrequest(skb)) {
    count(COUNTER_ALLOWED);
    return TC_ACT_OK;
  }
  count(COUNTER_DROPPED);
  return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
