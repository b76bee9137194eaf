/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The 4-tuple hash. Mirrored in Go by datapath.Hash: change both together.
 * Murmur3 (x86_32) over little-endian 32-bit words: for IPv6 nine words, the
 * 16-byte source and destination addresses and the 32-bit word of the TCP
 * source and destination ports as they sit in the packet; for IPv4 three
 * words, the 4-byte addresses and the ports word (each Murmur round is a
 * serial chain of multiplies: hashing the constant ::ffff:0:0/96 prefixes
 * cost ~15 ns per packet). Not symmetric; the same 4-tuple always gives the
 * same value. */
#pragma once

#define WEIR_HASH_SEED 0x57e1c0deU

static __always_inline __u32 weir_rol32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 weir_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51U;
	k = weir_rol32(k, 15);
	k *= 0x1b873593U;
	h ^= k;
	h = weir_rol32(h, 13);
	return h * 5 + 0xe6546b64U;
}

static __always_inline __u32 weir_fmix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bU;
	h ^= h >> 13;
	h *= 0xc2b2ae35U;
	h ^= h >> 16;
	return h;
}

/* weir_hash4_v4: src and dst are the IPv4 addresses as they sit in the
 * packet; ports is the raw ports word. */
static __always_inline __u32 weir_hash4_v4(__u32 src, __u32 dst, __u32 ports)
{
	__u32 h = WEIR_HASH_SEED;
	h = weir_mix(h, src);
	h = weir_mix(h, dst);
	h = weir_mix(h, ports);
	h ^= 12; /* length in bytes */
	return weir_fmix(h);
}

/* weir_hash4: src and dst are 4 words each; ports is the raw ports word. */
static __always_inline __u32 weir_hash4(const __u32 *src, const __u32 *dst, __u32 ports)
{
	__u32 h = WEIR_HASH_SEED;
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = weir_mix(h, src[i]);
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = weir_mix(h, dst[i]);
	h = weir_mix(h, ports);
	h ^= 36; /* length in bytes */
	return weir_fmix(h);
}
