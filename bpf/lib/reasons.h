/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The one list of what the XDP program decided and why. Mirrored in Go by
 * bpf2go (-type weir_reason) so `weir inspect` and /metrics name them alike.
 * Append only: the numbers are the keys of the pinned `reasons` map. */
#pragma once

enum weir_reason {
	WEIR_REASON_REDIRECT = 0,        /* to a listener: redirected to its core */
	WEIR_REASON_PASS_NOT_IP = 1,     /* ARP, LLDP, other ethertypes */
	WEIR_REASON_PASS_NOT_TCP = 2,    /* ICMP, UDP, other protocols */
	WEIR_REASON_PASS_NO_LISTENER = 3,/* TCP to an (address, port) Weir does not serve */
	WEIR_REASON_PASS_FRAGMENT = 4,   /* IPv4 fragment (first or not): the stack reassembles */
	WEIR_REASON_PASS_IPV6_EXT = 5,   /* IPv6 with an extension header before TCP */
	WEIR_REASON_PASS_TRUNCATED = 6,  /* too short for the headers it announces */
	WEIR_REASON_PASS_NO_CORES = 7,   /* no cores configured yet */
	WEIR_REASON_PASS_NO_CPUMAP = 8,  /* CPUMAP entry of the chosen core missing */
	WEIR_REASON_DROP_DENIED = 9,     /* source in the port's deny list */
	WEIR_REASON_DROP_NOT_ALLOWED = 10,/* port has an allow list; source not in it */
	WEIR_REASON_MAX = 11,
};
