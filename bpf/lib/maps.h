/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps of the XDP program. All keys and values are named types so that
 * `bpftool map dump pinned /sys/fs/bpf/weir/<map>` prints named fields. */
#pragma once

#include "reasons.h"

#define WEIR_MAX_CPUS 64
#define WEIR_MAX_LISTENERS 1024
#define WEIR_MAX_CIDRS 65536

/* Listener flags. */
#define WEIR_LISTENER_ALLOW_LIST 1 /* sources not in allow_src are dropped */
#define WEIR_LISTENER_DENY_LIST 2  /* deny_src holds ranges of this port */

/* An (address, port) Weir serves. IPv4 as ::ffff:a.b.c.d; the all-zero
 * address (family kept) stands for a wildcard bind. */
struct weir_listener_key {
	__u8 addr[16];
	__be16 port;
	__u16 family; /* AF_INET (2) or AF_INET6 (10) */
};

struct weir_listener {
	__u32 flags; /* WEIR_LISTENER_* */
};

/* LPM key for the per-port source lists: prefixlen counts the bits after it,
 * always 32 for port+pad plus the address prefix (IPv4 as ::ffff:0:0/96). */
struct weir_src_key {
	__u32 prefixlen;
	__be16 port;
	__u16 pad;
	__u8 addr[16];
};

/* The cores connections are spread over: cpu[hash % n]. */
struct weir_cores {
	__u32 n;
	__u32 cpu[WEIR_MAX_CPUS];
};

/* key: weir_listener_key; value: weir_listener; writer: userspace (datapath.SetListeners). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEIR_MAX_LISTENERS);
	__type(key, struct weir_listener_key);
	__type(value, struct weir_listener);
} listeners SEC(".maps");

/* key: weir_src_key (port + source prefix); value: __u32 unused (1); writer: userspace (datapath.SetSourceRanges). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WEIR_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct weir_src_key);
	__type(value, __u32);
} allow_src SEC(".maps");

/* key: weir_src_key (port + source prefix); value: __u32 unused (1); writer: userspace (datapath.SetSourceRanges). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WEIR_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct weir_src_key);
	__type(value, __u32);
} deny_src SEC(".maps");

/* key: 0; value: weir_cores (n and the cpu list); writer: userspace (datapath.SetCores). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct weir_cores);
} cores SEC(".maps");

/* key: cpu id; value: bpf_cpumap_val (queue size); writer: userspace (datapath.SetCores). */
struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, WEIR_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpumap SEC(".maps");

/* key: enum weir_reason; value: packets (per CPU); writer: the XDP program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WEIR_REASON_MAX);
	__type(key, enum weir_reason);
	__type(value, __u64);
} reasons SEC(".maps");

/* key: target cpu id; value: packets redirected to it (per receiving CPU); writer: the XDP program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WEIR_MAX_CPUS);
	__type(key, __u32);
	__type(value, __u64);
} chosen SEC(".maps");
