package connlimit

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Table counts the requests in flight per key (a limit-connections zone
// and a client address), and keeps the request rates of limit-rps and
// limit-rpm (Admit, rate.go), for every worker process of a node: nginx's
// limit_conn zones are shared by its workers, and so is a Table, in a
// memfd the supervisor creates and each worker maps (NewSharedTable,
// OpenTable). The in-process mode uses NewTable's private memory.
//
// The memory is an array of buckets of one cache line: a lock word (the
// pid of its holder, so a holder that died is taken over) and seven slots
// of a 40-bit key hash and a 24-bit count. A key lives in the bucket its
// hash (seeded per Table, so clients cannot aim at one bucket) selects.
// Each worker also keeps its own count per slot, so that the supervisor
// takes the counts of a worker that died back (Reclaim) before it starts
// its successor.
//
// A key whose bucket has no free slot is refused, as nginx's limit_conn
// refuses when its zone is full: the limit fails closed.
type Table struct {
	words   []uint64 // header, then the buckets
	workers []uint32 // per worker, per slot: its share of the count
	buckets uint64
	seedKey uint64
	file    *os.File // the memfd; nil for a private Table
	pid     uint64
}

const (
	headerWords   = 8
	bucketWords   = 8 // one cache line: the lock and seven slots
	slotsInBucket = bucketWords - 1
	countBits     = 24
	countMask     = 1<<countBits - 1
	tableMagic    = 0x7765697263746231 // "weirctb1"
	// DefaultBuckets is the buckets of a Table: 65536, 4 MiB, 458752
	// slots (nginx's default 5 MiB zone holds about 40000 states).
	DefaultBuckets = 1 << 16
)

// ErrTableFull is the refusal of a key whose bucket has no free slot.
var ErrTableFull = errors.New("connection limit table bucket full")

func tableSize(buckets, workers int) int {
	return wordsOf(buckets)*8 + workers*buckets*slotsInBucket*4
}

// wordsOf is the words of the header, the limit-connections buckets and the
// request-rate buckets (rate.go) of a Table of buckets buckets.
func wordsOf(buckets int) int {
	return headerWords + buckets*bucketWords + RateBuckets*rateBucketWords
}

// NewTable returns a private Table for one process (worker slot 0).
func NewTable() *Table {
	mem := make([]uint64, (tableSize(DefaultBuckets, 1)+7)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)
	t := layout(b, DefaultBuckets, 1)
	t.init()
	return t
}

// NewSharedTable creates a Table in a memfd for workers worker processes
// (the supervisor's); File is what each worker inherits.
func NewSharedTable(workers int) (*Table, error) {
	fd, err := unix.MemfdCreate("weir-conn-limits", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create connection limit table: %w", err)
	}
	f := os.NewFile(uintptr(fd), "weir-conn-limits")
	size := tableSize(DefaultBuckets, workers)
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("size connection limit table: %w", err)
	}
	t, err := mapTable(f, size)
	if err != nil {
		f.Close()
		return nil, err
	}
	t.words[3] = uint64(workers)
	t.init()
	return t, nil
}

// OpenTable maps the Table of a memfd a worker inherited.
func OpenTable(f *os.File) (*Table, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open connection limit table: %w", err)
	}
	t, err := mapTable(f, int(st.Size()))
	if err != nil {
		return nil, err
	}
	if atomic.LoadUint64(&t.words[0]) != tableMagic {
		return nil, errors.New("open connection limit table: not initialised")
	}
	t.seedKey = atomic.LoadUint64(&t.words[1])
	return t, nil
}

// Remap maps a shared Table's memfd again, as a worker process that
// inherited it does (OpenTable of a duplicate); the new Table's File is
// its own. For tests, and for several proxies in one process.
func (t *Table) Remap() (*Table, error) {
	if t.file == nil {
		return nil, errors.New("remap connection limit table: not shared")
	}
	fd, err := unix.Dup(int(t.file.Fd()))
	if err != nil {
		return nil, fmt.Errorf("remap connection limit table: %w", err)
	}
	f := os.NewFile(uintptr(fd), "weir-conn-limits")
	nt, err := OpenTable(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return nt, nil
}

func mapTable(f *os.File, size int) (*Table, error) {
	if size < tableSize(DefaultBuckets, 1) {
		return nil, fmt.Errorf("map connection limit table: %d bytes is too small", size)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map connection limit table: %w", err)
	}
	workers := (size - wordsOf(DefaultBuckets)*8) / (DefaultBuckets * slotsInBucket * 4)
	t := layout(b, DefaultBuckets, workers)
	t.file = f
	return t, nil
}

// layout lays a Table over b.
func layout(b []byte, buckets, workers int) *Table {
	nw := wordsOf(buckets)
	t := &Table{
		words:   unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), nw),
		buckets: uint64(buckets),
		pid:     uint64(os.Getpid()),
	}
	if workers > 0 {
		t.workers = unsafe.Slice((*uint32)(unsafe.Pointer(&b[nw*8])), workers*buckets*slotsInBucket)
	}
	return t
}

// init writes the header of a new Table.
func (t *Table) init() {
	t.seedKey = rand.Uint64()
	atomic.StoreUint64(&t.words[1], t.seedKey)
	atomic.StoreUint64(&t.words[2], t.buckets)
	atomic.StoreUint64(&t.words[0], tableMagic)
}

// File returns the memfd of a shared Table, for a worker to inherit; nil
// for a private one.
func (t *Table) File() *os.File { return t.file }

// Workers returns the worker slots of the Table.
func (t *Table) Workers() int { return len(t.workers) / (int(t.buckets) * slotsInBucket) }

// Key hashes a zone name and a client address (its bytes) into a key of
// the Table, the same in every process mapping it: a SHA-256 of the
// Table's random seed, the zone and the address.
func (t *Table) Key(zone string, addr []byte) uint64 {
	h := sha256.New()
	var k [8]byte
	binary.LittleEndian.PutUint64(k[:], t.seedKey)
	h.Write(k[:])
	h.Write([]byte(zone))
	h.Write([]byte{0})
	h.Write(addr)
	var sum [sha256.Size]byte
	return binary.LittleEndian.Uint64(h.Sum(sum[:0]))
}

// Slot is a count a worker holds; Release gives it back.
type Slot struct {
	t      *Table
	worker int
	index  uint64 // slot number: bucket*slotsInBucket + i
}

// Acquire counts one more request of key for worker (its slot, from 0) if
// fewer than limit are counted, and returns the Slot to release. ok is
// false when limit are already counted, or when the key's bucket has no
// free slot (ErrTableFull is then err).
func (t *Table) Acquire(key uint64, limit, worker int) (s Slot, ok bool, err error) {
	tag := key >> countBits
	if tag == 0 {
		tag = 1
	}
	b := (key * 0x9e3779b97f4a7c15 >> 32) % t.buckets
	base := headerWords + b*bucketWords
	t.lock(base)
	defer t.unlock(base)
	free := -1
	for i := range uint64(slotsInBucket) {
		w := atomic.LoadUint64(&t.words[base+1+i])
		if w>>countBits == tag && w&countMask > 0 {
			if int(w&countMask) >= limit || w&countMask == countMask {
				return Slot{}, false, nil
			}
			return t.add(base, b, i, worker, w+1), true, nil
		}
		if w&countMask == 0 && free < 0 {
			free = int(i)
		}
	}
	if free < 0 {
		return Slot{}, false, ErrTableFull
	}
	if limit < 1 {
		return Slot{}, false, nil
	}
	return t.add(base, b, uint64(free), worker, tag<<countBits|1), true, nil
}

// add stores w in slot i of bucket b (at base) and counts one for worker.
func (t *Table) add(base, b, i uint64, worker int, w uint64) Slot {
	atomic.StoreUint64(&t.words[base+1+i], w)
	s := Slot{t: t, worker: worker, index: b*slotsInBucket + i}
	atomic.AddUint32(t.share(worker, s.index), 1)
	return s
}

func (t *Table) share(worker int, index uint64) *uint32 {
	return &t.workers[uint64(worker)*t.buckets*slotsInBucket+index]
}

// Release gives the count of s back. A zero Slot is a no-op.
func (s Slot) Release() {
	t := s.t
	if t == nil {
		return
	}
	b := s.index / slotsInBucket
	base := headerWords + b*bucketWords
	t.lock(base)
	defer t.unlock(base)
	p := t.share(s.worker, s.index)
	if atomic.LoadUint32(p) == 0 {
		return // reclaimed: the worker was taken for dead
	}
	atomic.AddUint32(p, ^uint32(0))
	atomic.AddUint64(&t.words[base+1+s.index%slotsInBucket], ^uint64(0))
}

// Reclaim takes back every count of worker: the supervisor calls it for a
// worker process that exited, before it starts the next in its slot.
func (t *Table) Reclaim(worker int) {
	shares := t.workers[uint64(worker)*t.buckets*slotsInBucket : uint64(worker+1)*t.buckets*slotsInBucket]
	for index := range shares {
		n := atomic.LoadUint32(&shares[index])
		if n == 0 {
			continue
		}
		base := headerWords + uint64(index)/slotsInBucket*bucketWords
		t.lock(base)
		n = atomic.SwapUint32(&shares[index], 0)
		atomic.AddUint64(&t.words[base+1+uint64(index)%slotsInBucket], -uint64(n))
		t.unlock(base)
	}
}

// Count returns the requests counted for key, for tests and metrics.
func (t *Table) Count(key uint64) int {
	tag := max(key>>countBits, 1)
	base := headerWords + (key*0x9e3779b97f4a7c15>>32)%t.buckets*bucketWords
	for i := range uint64(slotsInBucket) {
		if w := atomic.LoadUint64(&t.words[base+1+i]); w>>countBits == tag && w&countMask > 0 {
			return int(w & countMask)
		}
	}
	return 0
}

// lock takes the lock word of the bucket at base. A holder that no longer
// exists (a worker killed while it held the lock) is taken over.
func (t *Table) lock(base uint64) {
	t.lockWord(&t.words[base])
}

// lockWord takes the lock word p.
func (t *Table) lockWord(p *uint64) {
	for spins := 0; ; spins++ {
		if atomic.CompareAndSwapUint64(p, 0, t.pid) {
			return
		}
		if spins%1024 == 1023 {
			if holder := atomic.LoadUint64(p); holder != 0 && holder != t.pid && !alive(int(holder)) {
				if atomic.CompareAndSwapUint64(p, holder, t.pid) {
					return
				}
			}
		}
		runtime.Gosched()
	}
}

func (t *Table) unlock(base uint64) { atomic.StoreUint64(&t.words[base], 0) }

// alive reports whether process pid exists.
func alive(pid int) bool {
	return unix.Kill(pid, 0) != unix.ESRCH
}
