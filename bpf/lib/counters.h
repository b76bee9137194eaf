/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counting of reasons and chosen cores. Each reason implies its
 * verdict (redirect → XDP_REDIRECT, drop_* → XDP_DROP, pass_* → XDP_PASS),
 * so verdicts are derived from the reason counters in userspace instead of
 * costing a second map update per packet. */
#pragma once

#include "maps.h"

static __always_inline void weir_count(__u32 *map_key, void *map)
{
	__u64 *v = bpf_map_lookup_elem(map, map_key);
	if (v)
		*v += 1;
}

/* weir_verdict counts the reason and returns the verdict, which must be
 * the one the reason implies (see above). */
static __always_inline int weir_verdict(enum weir_reason reason, int verdict)
{
	__u32 r = reason;
	weir_count(&r, &reasons);
	return verdict;
}
