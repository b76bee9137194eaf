package router

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"sort"
)

// pointsPerWeight is resty.chash's CONSISTENT_POINTS: the points one unit
// of weight puts on the ring.
const pointsPerWeight = 160

// ring is the consistent-hash ring of OpenResty's resty.chash, the one
// ingress-nginx's chash, chashsubset and sticky_balanced balancers use, so
// that a key lands on the node ingress-nginx would choose: each node, named
// by a string, puts 160 points per unit of weight on a ring of 2^32, the
// first at the CRC32 (IEEE) of its name continued over four zero bytes,
// each next one continued over the little-endian bytes of the previous. A
// key belongs to the node of the last point at or before the key's CRC32,
// or of the first point when the key hashes before every point. The ring
// depends only on the set of names: removing a node moves only its keys.
// It is immutable.
type ring struct {
	points []ringPoint
}

type ringPoint struct {
	hash uint32
	node int32 // index into the names given to newRing
}

// newRing returns the ring of the nodes names, each with weight 1 when
// weights is nil, else weights[i].
func newRing(names []string, weights []int) *ring {
	total := 0
	for i := range names {
		total += weightAt(weights, i)
	}
	r := &ring{points: make([]ringPoint, 0, total*pointsPerWeight)}
	var prev [4]byte
	for i, name := range names {
		base := crc32.ChecksumIEEE([]byte(name))
		clear(prev[:])
		for range weightAt(weights, i) * pointsPerWeight {
			// resty.chash continues the finished CRC of the name without
			// undoing its final inversion: crc32.Update inverts its
			// argument first, hence ^base.
			h := crc32.Update(^base, crc32.IEEETable, prev[:])
			r.points = append(r.points, ringPoint{hash: h, node: int32(i)})
			binary.LittleEndian.PutUint32(prev[:], h)
		}
	}
	slices.SortStableFunc(r.points, func(a, b ringPoint) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	return r
}

func weightAt(weights []int, i int) int {
	if weights == nil {
		return 1
	}
	return weights[i]
}

// find returns the index of the node key belongs to; the ring must have a
// node.
func (r *ring) find(key string) int {
	h := crc32.ChecksumIEEE([]byte(key))
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i].hash > h }) - 1
	if i < 0 {
		i = 0
	}
	return int(r.points[i].node)
}
