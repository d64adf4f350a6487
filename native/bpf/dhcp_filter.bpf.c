// SPDX-License-Identifier: GPL-2.0
// Socket filter (BPF_PROG_TYPE_SOCKET_FILTER) for the DHCP client's packet socket: the eBPF
// twin of the classic filter built in native/lib/filters.ts, with pass/drop counters in an
// array map that TypeScript reads. Accepts exactly: Ethernet II IPv4, protocol UDP, not a
// fragment (MF clear and offset 0), UDP destination port 68 (RFC 2131 §4.1), any valid IHL.
// Offsets are from the start of the Ethernet header: AF_PACKET SOCK_RAW runs socket filters
// with skb->data at the MAC header.
#include "udp4.h"

// Counter slots, shared with native/lib/ebpf.ts.
#define COUNTER_PASSED 0
#define COUNTER_DROPPED 1
#define COUNTER_SLOTS 2

#define DHCP_CLIENT_PORT 68

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, COUNTER_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} dhcp_counters SEC(".maps");

static __always_inline void count(__u32 slot) {
  __u64 *v = bpf_map_lookup_elem(&dhcp_counters, &slot);
  if (v) __sync_fetch_and_add(v, 1);
}

static __always_inline int is_dhcp_to_client(struct __sk_buff *skb) {
  __u32 udp = udp4_offset(skb);
  if (udp == 0) return 0;
  __u16 dport;
  if (bpf_skb_load_bytes(skb, udp + 2, &dport, sizeof dport) < 0) return 0;
  return dport == bpf_htons(DHCP_CLIENT_PORT);
}

SEC("socket")
int paddock_dhcp(struct __sk_buff *skb) {
  if (is_dhcp_to_client(skb)) {
    count(COUNTER_PASSED);
    return skb->len;
  }
  count(COUNTER_DROPPED);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
