// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* SK_REUSEPORT entry: hand a new connection to the listening socket of the
 * worker pinned to the core the SYN is processed on (the core XDP chose).
 * An empty slot falls back to the kernel's own choice: SK_PASS without a
 * selection, so a SYN is never dropped for want of a worker. One copy of the
 * program and its sockarray is loaded per listening port (reuseport group). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define WEIR_MAX_CPUS 64

/* key: cpu id; value: the listening socket of the worker on that cpu; writer: userspace (supervisor). */
struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, WEIR_MAX_CPUS);
	__type(key, __u32);
	__type(value, __u64);
} sockets SEC(".maps");

/* key: 0 selected by cpu, 1 fell back to the kernel; value: connections (per CPU); writer: this program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} select_stats SEC(".maps");

SEC("sk_reuseport")
int weir_select(struct sk_reuseport_md *md)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u32 k = bpf_sk_select_reuseport(md, &sockets, &cpu, 0) == 0 ? 0 : 1;
	__u64 *v = bpf_map_lookup_elem(&select_stats, &k);
	if (v)
		*v += 1;
	return SK_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
