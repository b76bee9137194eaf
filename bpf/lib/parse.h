/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing: Ethernet (one or two 802.1Q/802.1ad tags), IPv4, IPv6, TCP.
 * Choices: every IPv4 fragment (first or not) and every IPv6 packet whose next
 * header is not TCP (extension headers included) is passed to the stack
 * untouched and counted; a packet shorter than the headers it announces is
 * passed too (the stack drops it and counts it in its own statistics). */
#pragma once

#include "reasons.h"

#define WEIR_ETH_P_IP 0x0800
#define WEIR_ETH_P_IPV6 0x86DD
#define WEIR_ETH_P_8021Q 0x8100
#define WEIR_ETH_P_8021AD 0x88A8
#define WEIR_AF_INET 2
#define WEIR_AF_INET6 10

struct weir_flow {
	__u32 src[4];   /* source address, IPv4 as ::ffff:a.b.c.d */
	__u32 dst[4];   /* destination address, same form */
	__u32 ports;    /* the TCP ports word as in the packet */
	__be16 dport;   /* destination port, network order */
	__u16 family;   /* WEIR_AF_INET or WEIR_AF_INET6 */
};

struct weir_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

static __always_inline int weir_is_ipv6_ext(__u8 nh)
{
	switch (nh) {
	case 0:   /* hop-by-hop */
	case 43:  /* routing */
	case 44:  /* fragment */
	case 50:  /* ESP */
	case 51:  /* AH */
	case 60:  /* destination options */
	case 135: /* mobility */
	case 139: /* HIP */
	case 140: /* shim6 */
		return 1;
	}
	return 0;
}

/* weir_parse fills f and returns -1 for a TCP packet to look up, else the
 * weir_reason of a packet to pass. */
static __always_inline int weir_parse(struct xdp_md *ctx, struct weir_flow *f)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l4;
	__u8 proto;

	if ((void *)(eth + 1) > end)
		return WEIR_REASON_PASS_TRUNCATED;
	__be16 type = eth->h_proto;
	void *p = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (type != bpf_htons(WEIR_ETH_P_8021Q) && type != bpf_htons(WEIR_ETH_P_8021AD))
			break;
		struct weir_vlan_hdr *vh = p;
		if ((void *)(vh + 1) > end)
			return WEIR_REASON_PASS_TRUNCATED;
		type = vh->proto;
		p = vh + 1;
	}

	if (type == bpf_htons(WEIR_ETH_P_IP)) {
		struct iphdr *ip = p;
		if ((void *)(ip + 1) > end)
			return WEIR_REASON_PASS_TRUNCATED;
		if (ip->ihl < 5)
			return WEIR_REASON_PASS_TRUNCATED;
		if (ip->frag_off & bpf_htons(0x3FFF)) /* MF or an offset */
			return WEIR_REASON_PASS_FRAGMENT;
		proto = ip->protocol;
		l4 = p + ip->ihl * 4;
		f->family = WEIR_AF_INET;
		f->src[0] = 0;
		f->src[1] = 0;
		f->src[2] = bpf_htonl(0xffff);
		f->src[3] = ip->saddr;
		f->dst[0] = 0;
		f->dst[1] = 0;
		f->dst[2] = bpf_htonl(0xffff);
		f->dst[3] = ip->daddr;
	} else if (type == bpf_htons(WEIR_ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = p;
		if ((void *)(ip6 + 1) > end)
			return WEIR_REASON_PASS_TRUNCATED;
		proto = ip6->nexthdr;
		if (proto != IPPROTO_TCP && weir_is_ipv6_ext(proto))
			return WEIR_REASON_PASS_IPV6_EXT;
		l4 = ip6 + 1;
		f->family = WEIR_AF_INET6;
		__builtin_memcpy(f->src, &ip6->saddr, 16);
		__builtin_memcpy(f->dst, &ip6->daddr, 16);
	} else {
		return WEIR_REASON_PASS_NOT_IP;
	}
	if (proto != IPPROTO_TCP)
		return WEIR_REASON_PASS_NOT_TCP;

	struct tcphdr *tcp = l4;
	if ((void *)(tcp + 1) > end)
		return WEIR_REASON_PASS_TRUNCATED;
	f->ports = *(__u32 *)tcp;
	f->dport = tcp->dest;
	return -1;
}
