package datapath

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// hashSeed is WEIR_HASH_SEED of bpf/lib/hash.h.
const hashSeed = 0x57e1c0de

// Hash is the 4-tuple hash of bpf/lib/hash.h: the XDP program sends a packet
// from src:sport to dst:dport to core Cores[Hash(...) % len(Cores)]. An IPv4
// pair (IPv4-mapped IPv6 included) hashes its 4-byte addresses and the
// ports, an IPv6 pair its 16-byte addresses and the ports. Change both
// together.
func Hash(src, dst netip.Addr, sport, dport uint16) uint32 {
	var ports [4]byte
	binary.BigEndian.PutUint16(ports[0:], sport)
	binary.BigEndian.PutUint16(ports[2:], dport)
	if s4, d4 := src.Unmap(), dst.Unmap(); s4.Is4() && d4.Is4() {
		s, d := s4.As4(), d4.As4()
		h := mix(uint32(hashSeed), binary.LittleEndian.Uint32(s[:]))
		h = mix(h, binary.LittleEndian.Uint32(d[:]))
		h = mix(h, binary.LittleEndian.Uint32(ports[:]))
		return fmix(h ^ 12)
	}
	s, d := src.As16(), dst.As16()
	h := uint32(hashSeed)
	for i := 0; i < 16; i += 4 {
		h = mix(h, binary.LittleEndian.Uint32(s[i:]))
	}
	for i := 0; i < 16; i += 4 {
		h = mix(h, binary.LittleEndian.Uint32(d[i:]))
	}
	h = mix(h, binary.LittleEndian.Uint32(ports[:]))
	h ^= 36
	return fmix(h)
}

// CoreFor is the core the XDP program picks for a connection.
func CoreFor(cores []int, src, dst netip.Addr, sport, dport uint16) int {
	return cores[Hash(src, dst, sport, dport)%uint32(len(cores))]
}

func mix(h, k uint32) uint32 {
	k *= 0xcc9e2d51
	k = bits.RotateLeft32(k, 15)
	k *= 0x1b873593
	h ^= k
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}

func fmix(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
