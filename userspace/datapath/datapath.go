// Package datapath loads Weir's XDP program, keeps its maps in step with the
// configuration, attaches it to the node's interface with a pinned bpf_link,
// and reads its counters. Maps and the link are pinned under PinPath, so a
// restarted Weir replaces the program atomically and `weir inspect` and
// `weir detach` find them.
package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// DefaultPinPath is where Weir pins its maps and link.
const DefaultPinPath = "/sys/fs/bpf/weir"

// MaxCPUs is WEIR_MAX_CPUS: the highest core id plus one that can be used.
const MaxCPUs = 64

// Options configures Load.
type Options struct {
	// PinPath is the bpffs folder for maps and link. Empty means nothing is
	// pinned (tests). Default for Weir: DefaultPinPath. A Datapath holds
	// its PinPath until Close: another Load or a Detach of the same folder
	// is refused meanwhile (ErrPinsInUse), so Weirs sharing a host (network
	// namespaces, test runs) each need their own.
	PinPath string
	// QueueSize is the CPUMAP queue of each core, in packets. Zero means 2048.
	QueueSize uint32
}

// Datapath is the loaded XDP program and its maps.
type Datapath struct {
	opts Options
	objs xdpObjects
	link link.Link // nil until Attach; unpinned links detach on Close
	// lock holds opts.PinPath for this process (lockPins); nil without a
	// PinPath.
	lock *os.File
}

// Load loads the XDP program and creates, or reopens the pinned, maps.
func Load(opts Options) (*Datapath, error) {
	if opts.QueueSize == 0 {
		opts.QueueSize = 2048
	}
	spec, err := loadXdp()
	if err != nil {
		return nil, fmt.Errorf("load xdp spec: %w", err)
	}
	var co ebpf.CollectionOptions
	if opts.PinPath != "" {
		if err := ensureBPFFS(filepath.Dir(opts.PinPath)); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(opts.PinPath, 0o700); err != nil {
			return nil, fmt.Errorf("create pin folder %s: %w", opts.PinPath, err)
		}
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinByName
		}
		co.Maps.PinPath = opts.PinPath
	}
	d := &Datapath{opts: opts}
	if opts.PinPath != "" {
		// Before the pinned maps are reused: they are the live Weir's.
		if d.lock, err = lockPins(opts.PinPath); err != nil {
			return nil, fmt.Errorf("load xdp program: %w", err)
		}
	}
	if err := spec.LoadAndAssign(&d.objs, &co); err != nil {
		d.unlock()
		return nil, fmt.Errorf("load xdp program: %w", verifierDetail(err))
	}
	return d, nil
}

// verifierDetail returns a verifier error with its whole log.
func verifierDetail(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("%+v", ve)
	}
	return err
}

// Close releases the program, maps and link held by this process, and the
// pin folder; pinned ones stay (and stay attached).
func (d *Datapath) Close() error {
	if d.link != nil {
		d.link.Close()
	}
	err := d.objs.Close()
	d.unlock()
	return err
}

func (d *Datapath) unlock() {
	if d.lock != nil {
		d.lock.Close() // releases the flock
		d.lock = nil
	}
}

// Program is the XDP program.
func (d *Datapath) Program() *ebpf.Program { return d.objs.WeirXdp }

// SetCores sets the cores connections are spread over, in order: a
// connection goes to cores[Hash % len(cores)]. Empty means none: every
// packet is passed (reason pass_no_cores).
func (d *Datapath) SetCores(cores []int) error {
	if len(cores) > MaxCPUs {
		return fmt.Errorf("set cores: %d cores, at most %d", len(cores), MaxCPUs)
	}
	c := xdpWeirCores{N: uint32(len(cores))}
	for i, cpu := range cores {
		if cpu < 0 || cpu >= MaxCPUs {
			return fmt.Errorf("set cores: core %d out of range 0-%d", cpu, MaxCPUs-1)
		}
		c.Cpu[i] = uint32(cpu)
		v := xdpBpfCpumapVal{Qsize: d.opts.QueueSize}
		if err := d.objs.Cpumap.Put(uint32(cpu), &v); err != nil {
			return fmt.Errorf("set cpumap entry of core %d: %w", cpu, err)
		}
	}
	if err := d.objs.Cores.Put(uint32(0), &c); err != nil {
		return fmt.Errorf("set cores: %w", err)
	}
	return nil
}

// Listener is an address and port Weir serves, with the port's source lists.
type Listener struct {
	// Addr is the listening address and port; an unspecified address
	// (0.0.0.0 or ::) matches every destination of its family.
	Addr netip.AddrPort
	// Allow, when not empty, is the only sources let through; others are
	// dropped (reason drop_not_allowed). Nil means every source.
	Allow []netip.Prefix
	// Deny sources are dropped (reason drop_denied), before Allow is looked
	// at. Nil means none.
	Deny []netip.Prefix
}

const (
	listenerAllowList = 1 // WEIR_LISTENER_ALLOW_LIST
	listenerDenyList  = 2 // WEIR_LISTENER_DENY_LIST
)

func listenerKey(ap netip.AddrPort) xdpWeirListenerKey {
	k := xdpWeirListenerKey{Addr: ap.Addr().As16(), Port: htons(ap.Port()), Family: 10}
	if ap.Addr().Unmap().Is4() {
		k.Family = 2
		if ap.Addr().Unmap().IsUnspecified() {
			k.Addr = [16]byte{}
		}
	}
	return k
}

func srcKey(port uint16, p netip.Prefix) xdpWeirSrcKey {
	bitsLen := p.Bits()
	if p.Addr().Is4() {
		bitsLen += 96
	}
	return xdpWeirSrcKey{Prefixlen: uint32(32 + bitsLen), Port: htons(port), Addr: p.Masked().Addr().As16()}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// SetListeners makes the listener and source maps hold exactly ls: entries
// not in ls are deleted. Source lists are per port: two listeners of one
// port share them.
func (d *Datapath) SetListeners(ls []Listener) error {
	wantL := map[xdpWeirListenerKey]xdpWeirListener{}
	wantAllow := map[xdpWeirSrcKey]bool{}
	wantDeny := map[xdpWeirSrcKey]bool{}
	for _, l := range ls {
		v := wantL[listenerKey(l.Addr)]
		if len(l.Allow) > 0 {
			v.Flags |= listenerAllowList
		}
		if len(l.Deny) > 0 {
			v.Flags |= listenerDenyList
		}
		wantL[listenerKey(l.Addr)] = v
		for _, p := range l.Allow {
			wantAllow[srcKey(l.Addr.Port(), p)] = true
		}
		for _, p := range l.Deny {
			wantDeny[srcKey(l.Addr.Port(), p)] = true
		}
	}
	var errs []error
	// New sources first and stale ones last, so that while the maps change
	// a listener's list holds both (never an empty allow list that would
	// drop everyone).
	errs = append(errs, addSet(d.objs.AllowSrc, wantAllow), addSet(d.objs.DenySrc, wantDeny))
	for k, v := range wantL {
		if err := d.objs.Listeners.Put(&k, &v); err != nil {
			errs = append(errs, fmt.Errorf("put listener: %w", err))
		}
	}
	var k xdpWeirListenerKey
	var v xdpWeirListener
	var stale []xdpWeirListenerKey
	it := d.objs.Listeners.Iterate()
	for it.Next(&k, &v) {
		if _, ok := wantL[k]; !ok {
			stale = append(stale, k)
		}
	}
	for _, k := range stale {
		if err := d.objs.Listeners.Delete(&k); err != nil {
			errs = append(errs, fmt.Errorf("delete listener: %w", err))
		}
	}
	errs = append(errs, pruneSet(d.objs.AllowSrc, wantAllow), pruneSet(d.objs.DenySrc, wantDeny))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("set listeners: %w", err)
	}
	return nil
}

func addSet(m *ebpf.Map, want map[xdpWeirSrcKey]bool) error {
	one := uint32(1)
	for k := range want {
		if err := m.Put(&k, &one); err != nil {
			return fmt.Errorf("put source range: %w", err)
		}
	}
	return nil
}

func pruneSet(m *ebpf.Map, want map[xdpWeirSrcKey]bool) error {
	var k xdpWeirSrcKey
	var v uint32
	var stale []xdpWeirSrcKey
	it := m.Iterate()
	for it.Next(&k, &v) {
		if !want[k] {
			stale = append(stale, k)
		}
	}
	for _, k := range stale {
		if err := m.Delete(&k); err != nil {
			return fmt.Errorf("delete source range: %w", err)
		}
	}
	return it.Err()
}

// Stats are the XDP program's counters, one slice element per possible CPU.
type Stats struct {
	// Reasons[reason][cpu] counts packets per reason on the receiving CPU.
	Reasons map[Reason][]uint64
	// Verdicts[action][cpu] counts packets per XDP action (0 aborted … 4
	// redirect), summed from Reasons: each reason implies one action.
	Verdicts [5][]uint64
	// Chosen[target] counts packets redirected to core target, summed over
	// receiving CPUs.
	Chosen [MaxCPUs]uint64
}

// Stats reads the counters.
func (d *Datapath) Stats() (*Stats, error) {
	return readStats(d.objs.Reasons, d.objs.Chosen)
}

func readStats(reasons, chosen *ebpf.Map) (*Stats, error) {
	s := &Stats{Reasons: map[Reason][]uint64{}}
	for _, r := range Reasons() {
		var per []uint64
		if err := reasons.Lookup(uint32(r), &per); err != nil {
			return nil, fmt.Errorf("read reason %s: %w", ReasonName(r), err)
		}
		s.Reasons[r] = per
	}
	for a := range s.Verdicts {
		s.Verdicts[a] = make([]uint64, len(s.Reasons[0]))
	}
	for r, per := range s.Reasons {
		v := s.Verdicts[verdictOf(r)]
		for cpu, n := range per {
			v[cpu] += n
		}
	}
	for c := range s.Chosen {
		var per []uint64
		if err := chosen.Lookup(uint32(c), &per); err != nil {
			return nil, fmt.Errorf("read chosen core %d: %w", c, err)
		}
		s.Chosen[c] = sum(per)
	}
	return s, nil
}

func sum(v []uint64) uint64 {
	var t uint64
	for _, x := range v {
		t += x
	}
	return t
}

// pinned is the path of a pinned object.
func (d *Datapath) pinned(name string) string { return filepath.Join(d.opts.PinPath, name) }

// ensureBPFFS mounts a bpffs on dir unless one is there already, as the
// agents of Cilium and Katran do on a node whose /sys/fs/bpf is not mounted.
func ensureBPFFS(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s: %w", dir, err)
	}
	return nil
}
