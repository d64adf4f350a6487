// SPDX-License-Identifier: GPL-2.0
// The IPv4 header walk both Paddock eBPF programs share: an Ethernet II frame carrying an
// unfragmented IPv4 packet, with its protocol and the offset of its transport header. A fixed,
// bounded sequence of loads.
#ifndef PADDOCK_UDP4_H
#define PADDOCK_UDP4_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define PADDOCK_ETH_HLEN 14

// The offset of the transport header from the start of the Ethernet header, with the IPv4
// protocol in *protocol, or 0 when the frame is not Ethernet II IPv4 with a whole 20-byte
// header, version 4 and IHL >= 5, or is a fragment (MF set or a non-zero offset: its transport
// header is absent or incomplete). Any valid IHL.
static __always_inline __u32 ipv4_l4_offset(struct __sk_buff *skb, __u8 *protocol) {
  __u16 ethertype;
  if (bpf_skb_load_bytes(skb, 12, &ethertype, sizeof ethertype) < 0) return 0;
  if (ethertype != bpf_htons(ETH_P_IP)) return 0;
  __u8 ip[20];
  if (bpf_skb_load_bytes(skb, PADDOCK_ETH_HLEN, ip, sizeof ip) < 0) return 0;
  if ((ip[0] >> 4) != 4) return 0;
  __u32 ihl = (ip[0] & 0x0f) * 4;
  if (ihl < 20) return 0;
  if (((ip[6] << 8) | ip[7]) & 0x3fff) return 0;
  *protocol = ip[9];
  return PADDOCK_ETH_HLEN + ihl;
}

// The offset of the UDP header, or 0 when the frame is not unfragmented IPv4 UDP.
static __always_inline __u32 udp4_offset(struct __sk_buff *skb) {
  __u8 protocol = 0;
  __u32 at = ipv4_l4_offset(skb, &protocol);
  return protocol == IPPROTO_UDP ? at : 0;
}

#endif
