/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counting of verdicts, reasons and chosen cores. */
#pragma once

#include "maps.h"

static __always_inline void weir_count(__u32 *map_key, void *map)
{
	__u64 *v = bpf_map_lookup_elem(map, map_key);
	if (v)
		*v += 1;
}

/* weir_verdict counts the reason and the verdict and returns the verdict. */
static __always_inline int weir_verdict(enum weir_reason reason, int verdict)
{
	__u32 r = reason, v = verdict;
	weir_count(&r, &reasons);
	weir_count(&v, &verdicts);
	return verdict;
}
