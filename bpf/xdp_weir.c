// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* XDP entry: parse, look the destination up in the listeners, apply the port's
 * source lists, and redirect the packet by CPUMAP to cores[hash(4-tuple) % n]
 * so every packet of a connection is handled on one core. Everything else is
 * XDP_PASS, untouched. Logic lives in the lib headers. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/hash.h"
#include "lib/parse.h"

static __always_inline int weir_source_verdict(struct weir_flow *f, struct weir_listener *l)
{
	struct weir_src_key k = {
		.prefixlen = 32 + 128,
		.port = f->dport,
	};
	__builtin_memcpy(k.addr, f->src, 16);
	if ((l->flags & WEIR_LISTENER_DENY_LIST) && bpf_map_lookup_elem(&deny_src, &k))
		return WEIR_REASON_DROP_DENIED;
	if ((l->flags & WEIR_LISTENER_ALLOW_LIST) && !bpf_map_lookup_elem(&allow_src, &k))
		return WEIR_REASON_DROP_NOT_ALLOWED;
	return -1;
}

SEC("xdp")
int weir_xdp(struct xdp_md *ctx)
{
	struct weir_flow f = {};
	int r = weir_parse(ctx, &f);
	if (r >= 0)
		return weir_verdict(r, XDP_PASS);

	struct weir_listener_key lk = {.port = f.dport, .family = f.family};
	__builtin_memcpy(lk.addr, f.dst, 16);
	struct weir_listener *l = bpf_map_lookup_elem(&listeners, &lk);
	if (!l) {
		/* a wildcard bind: the all-zero address of the family */
		__builtin_memset(lk.addr, 0, 16);
		l = bpf_map_lookup_elem(&listeners, &lk);
		if (!l)
			return weir_verdict(WEIR_REASON_PASS_NO_LISTENER, XDP_PASS);
	}

	if (l->flags) { /* the LPM lookups only for ports with lists */
		r = weir_source_verdict(&f, l);
		if (r >= 0)
			return weir_verdict(r, XDP_DROP);
	}

	__u32 zero = 0;
	struct weir_cores *c = bpf_map_lookup_elem(&cores, &zero);
	if (!c || c->n == 0 || c->n > WEIR_MAX_CPUS)
		return weir_verdict(WEIR_REASON_PASS_NO_CORES, XDP_PASS);
	__u32 h = f.family == WEIR_AF_INET ? weir_hash4_v4(f.src[3], f.dst[3], f.ports)
					   : weir_hash4(f.src, f.dst, f.ports);
	__u32 slot = h % c->n;
	/* slot < n <= WEIR_MAX_CPUS (a power of two): the mask changes nothing
	 * but lets the verifier see the bound; the barrier keeps clang from
	 * dropping it. */
	asm volatile("" : "+r"(slot));
	__u32 cpu = c->cpu[slot & (WEIR_MAX_CPUS - 1)];

	int act = bpf_redirect_map(&cpumap, cpu, XDP_PASS);
	if (act != XDP_REDIRECT) /* act is the XDP_PASS given as flags */
		return weir_verdict(WEIR_REASON_PASS_NO_CPUMAP, XDP_PASS);
	weir_count(&cpu, &chosen);
	return weir_verdict(WEIR_REASON_REDIRECT, XDP_REDIRECT);
}

char _license[] SEC("license") = "Dual BSD/GPL";
