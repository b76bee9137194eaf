package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/userspace/datapath"
	"github.com/weir-lb/weir/userspace/upgrade"
)

// takeoverTimeout bounds how long a Weir started with --upgrade may take to
// serve its configuration on the sockets it took; past it, it gives up and
// the old Weir serves on.
const takeoverTimeout = 2 * time.Minute

// node is Weir in either mode (daemon.Daemon, supervisor.Supervisor), as
// serveNode runs it.
type node interface {
	HTTPAddr() string
	Registry() *prometheus.Registry
	ListenerFiles() ([]*os.File, []string, error)
	Run(ctx context.Context) error
}

// nodeHooks are what serveNode needs to know of a mode.
type nodeHooks struct {
	// live reports that the configuration is live everywhere it is served
	// (the proxy, or every worker).
	live func() bool
	// steered runs once the XDP data path is attached. Nil means nothing.
	steered func()
	// unsteer undoes steered when the data path is handed over. Nil means
	// nothing.
	unsteer func()
}

// heldDatapath is the XDP data path this Weir holds, if any: released when
// it hands over to a new Weir, closed when it stops.
type heldDatapath struct {
	feed    *datapath.SourceListPublisher
	unsteer func() // nil: nothing to undo
	mu      sync.Mutex
	dp      *datapath.Datapath
}

// release closes the data path (the pinned link stays attached) and gives
// up the pin folder.
func (h *heldDatapath) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dp != nil {
		if h.unsteer != nil {
			h.unsteer()
		}
		h.feed.Detach()
		h.dp.Close() // the pinned link stays attached; `weir detach` removes it
		h.dp = nil
	}
}

// serveNode runs n: it attaches the XDP data path, offers the sockets on
// --upgrade-socket for the next Weir, and serves until ctx is done or a new
// Weir took over. With take (--upgrade), n serves on the sockets taken from
// the running Weir first, and attaches the data path and offers the sockets
// only once it told that one it serves and that one released them.
func serveNode(ctx context.Context, o *options, n node, hooks nodeHooks, feed *datapath.SourceListPublisher, take *upgrade.Takeover, log *slog.Logger) error {
	held := &heldDatapath{feed: feed, unsteer: hooks.unsteer}
	defer held.release()
	// Until this Weir serves, the sockets are the old one's too: whatever
	// stops it then must not refuse connections on them.
	var takingOver atomic.Bool
	takingOver.Store(take != nil)
	runCtx, stopRun := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopRun(nil)
	stopOnSignal := context.AfterFunc(ctx, func() {
		if takingOver.Load() {
			stopRun(upgrade.ErrHandedOver)
			return
		}
		stopRun(ctx.Err())
	})
	defer stopOnSignal()

	attach := func() {
		if dp := startDatapath(o, n.HTTPAddr(), n.Registry(), feed, log); dp != nil {
			held.mu.Lock()
			held.dp = dp
			held.mu.Unlock()
			if hooks.steered != nil {
				hooks.steered()
			}
		}
	}
	offer := func() func() {
		if o.upgradeSocket == "" {
			return func() {}
		}
		srv, err := upgrade.Listen(o.upgradeSocket, upgrade.Offer{
			Files:      n.ListenerFiles,
			Release:    held.release,
			HandedOver: func() { stopRun(upgrade.ErrHandedOver) },
			Logger:     log,
		})
		if err != nil {
			log.Warn("this weir cannot hand its sockets to a new one (binary upgrade)", "error", err)
			return func() {}
		}
		return func() { srv.Close() }
	}
	if take == nil {
		attach()
		defer offer()()
		return n.Run(runCtx)
	}

	errc := make(chan error, 1)
	go func() { errc <- n.Run(runCtx) }()
	if err := waitLive(hooks.live, errc); err != nil {
		stopRun(upgrade.ErrHandedOver) // the old weir serves on
		if rerr := <-errc; rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("take over the weir of pid %d: %w", take.PID, err)
	}
	takingOver.Store(false)
	if context.Cause(runCtx) != nil { // stopped while it took over
		<-errc
		return fmt.Errorf("take over the weir of pid %d: stopped before it served: %w", take.PID, context.Cause(runCtx))
	}
	if err := take.Serving(30 * time.Second); err != nil {
		// Gone or stuck: its pin folder is free once it exits.
		log.Warn("the old weir did not confirm the handover: taking the data path anyway", "error", err)
	}
	take.Close()
	log.Info("took over the running weir: serving on its sockets", "pid", take.PID)
	attach()
	defer offer()()
	return <-errc
}

// waitLive waits until live holds, for at most takeoverTimeout; a Run that
// returned first (errc) is an error.
func waitLive(live func() bool, errc chan error) error {
	deadline := time.Now().Add(takeoverTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !live() {
		if time.Now().After(deadline) {
			return fmt.Errorf("configuration not live within %v", takeoverTimeout)
		}
		select {
		case err := <-errc:
			errc <- err
			return fmt.Errorf("stopped before it served: %v", err)
		case <-tick.C:
		}
	}
	return nil
}

// takeOver connects to the Weir offering its sockets on --upgrade-socket and
// takes them, checking they are the ports this one was told to serve.
func takeOver(o *options, perPort int) (*upgrade.Takeover, error) {
	if o.upgradeSocket == "" {
		return nil, errors.New("take over a running weir: --upgrade needs --upgrade-socket")
	}
	take, err := upgrade.Take(o.upgradeSocket)
	if err != nil {
		return nil, err
	}
	want := make([]int, 0, 2*perPort+1)
	for range perPort {
		want = append(want, o.httpPort)
	}
	for range perPort {
		want = append(want, o.httpsPort)
	}
	want = append(want, o.metricsPort)
	err = nil
	if len(take.Files) != len(want) {
		err = fmt.Errorf("it has %d listening sockets, this one wants %d: give it the --workers of the running weir", len(take.Files), len(want))
	}
	for i, f := range take.Files {
		if err != nil {
			break
		}
		if port := socketPort(f); want[i] != 0 && port != want[i] {
			err = fmt.Errorf("its socket %s is on port %d, this one wants %d: give it the flags of the running weir", f.Name(), port, want[i])
		}
	}
	if err != nil {
		for _, f := range take.Files {
			f.Close()
		}
		take.Close()
		return nil, fmt.Errorf("take over the weir of pid %d: %w", take.PID, err)
	}
	return take, nil
}

// socketPort returns the local port of the socket f, 0 when it has none.
func socketPort(f *os.File) int {
	var sa unix.Sockaddr
	err := upgrade.Control(f, func(fd int) (err error) {
		sa, err = unix.Getsockname(fd)
		return err
	})
	if err != nil {
		return 0
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port
	case *unix.SockaddrInet6:
		return sa.Port
	}
	return 0
}
