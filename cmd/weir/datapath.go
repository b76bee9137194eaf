package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/cilium/ebpf/rlimit"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/userspace/datapath"
)

// startDatapath loads and attaches the XDP program for the HTTP listener at
// httpAddr and the HTTPS listener on the same address (--https-port),
// spreading their connections over the online cores. Without BPF or
// XDP it warns once and returns a nil Datapath: Weir serves without it. The
// live mode is the gauge weir_datapath_mode{mode} on reg, and the program's
// counters are weir_xdp_* series there once it is attached. Once attached,
// feed puts the whole-port source lists of each Snapshot into its maps.
func startDatapath(o *options, httpAddr string, reg prometheus.Registerer, feed *datapath.SourceListPublisher, log *slog.Logger) *datapath.Datapath {
	mode := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "weir_datapath_mode",
		Help: "1 for the XDP attach mode live on this node: native, generic or off.",
	}, []string{"mode"})
	reg.MustRegister(mode)
	setMode := func(m datapath.Mode) {
		for _, x := range []datapath.Mode{datapath.ModeNative, datapath.ModeGeneric, datapath.ModeOff} {
			v := 0.0
			if x == m {
				v = 1
			}
			mode.WithLabelValues(string(x)).Set(v)
		}
	}
	want, _ := datapath.ParseMode(o.xdpMode) // validated by runWeir
	setMode(datapath.ModeOff)
	if want == datapath.ModeOff {
		return nil
	}
	// Loopback carries no traffic from the network, and CPUMAP-rebuilt
	// packets lose loopback's partial checksums: never attach there.
	if ap, err := netip.ParseAddrPort(httpAddr); err == nil && ap.Addr().IsLoopback() && o.iface == "" {
		log.Info("XDP data path off: the listeners are on a loopback address", "http", httpAddr)
		return nil
	}
	d, got, listeners, err := attachDatapath(o, want, httpAddr, log)
	if err != nil {
		log.Warn("XDP data path not available: serving without it, on the kernel's own spreading of connections",
			"error", err)
		return nil
	}
	setMode(got)
	reg.MustRegister(datapath.NewCollector(d.Stats))
	feed.Attach(d, listeners)
	return d
}

func attachDatapath(o *options, mode datapath.Mode, httpAddr string, log *slog.Logger) (*datapath.Datapath, datapath.Mode, []datapath.Listener, error) {
	ap, err := netip.ParseAddrPort(httpAddr)
	if err != nil {
		return nil, "", nil, fmt.Errorf("parse http address %s: %w", httpAddr, err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, "", nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil {
		return nil, "", nil, fmt.Errorf("read online cores: %w", err)
	}
	var cores []int
	for c := 0; c < datapath.MaxCPUs; c++ {
		if cpus.IsSet(c) {
			cores = append(cores, c)
		}
	}
	var nodeAddr netip.Addr
	if a, err := netip.ParseAddr(o.bindAddress); err == nil && !a.IsUnspecified() {
		nodeAddr = a
	}
	iface, err := datapath.FindInterface(o.iface, nodeAddr)
	if err != nil {
		return nil, "", nil, err
	}
	d, err := datapath.Load(datapath.Options{PinPath: o.bpfPinPath})
	if err != nil {
		return nil, "", nil, err
	}
	ports := []uint16{ap.Port()}
	if o.httpsPort > 0 { // the HTTPS listener binds the same address
		ports = append(ports, uint16(o.httpsPort))
	}
	var listeners []datapath.Listener
	for _, port := range ports {
		if ap.Addr().IsUnspecified() { // a dual-stack wildcard bind
			listeners = append(listeners,
				datapath.Listener{Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), port)},
				datapath.Listener{Addr: netip.AddrPortFrom(netip.IPv6Unspecified(), port)})
			continue
		}
		listeners = append(listeners, datapath.Listener{Addr: netip.AddrPortFrom(ap.Addr(), port)})
	}
	if err := d.SetCores(cores); err != nil {
		d.Close()
		return nil, "", nil, err
	}
	if err := d.SetListeners(listeners); err != nil {
		d.Close()
		return nil, "", nil, err
	}
	got, err := d.Attach(iface, mode, log)
	if err != nil {
		d.Close()
		return nil, "", nil, err
	}
	log.Info("XDP data path attached", "interface", iface, "mode", got, "cores", cores,
		"ports", fmt.Sprint(ports), "pins", o.bpfPinPath)
	return d, got, listeners, nil
}

// pinPathFlag defines --bpf-pin-path, the same for every command that
// reads or writes the pins.
func pinPathFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "bpf-pin-path", datapath.DefaultPinPath, "bpffs folder of the XDP link and maps; a second Weir on the same host (another network namespace, a test run) needs its own, as a running Weir holds its folder; weir inspect and weir detach take it too")
}

func runInspect(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("weir inspect", flag.ContinueOnError)
	var pins string
	pinPathFlag(fs, &pins)
	if err := parseWithEnv(fs, "Prints the XDP data path pinned by a running weir: attach mode and interface,\ncores, listeners with their source lists, and per-core counters.", args, stdout); err != nil {
		return err
	}
	return datapath.Inspect(stdout, pins)
}

func runDetach(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("weir detach", flag.ContinueOnError)
	var pins string
	pinPathFlag(fs, &pins)
	if err := parseWithEnv(fs, "Detaches the XDP program that a stopped weir left attached and removes its pins.\nRefused while a running weir holds the pin folder.", args, stdout); err != nil {
		return err
	}
	if err := datapath.Detach(pins); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "detached; removed %s\n", pins)
	return err
}
