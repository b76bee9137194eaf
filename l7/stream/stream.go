// Package stream forwards the TCP and UDP ports of a Snapshot's Streams
// (ingress-nginx's --tcp-services-configmap and --udp-services-configmap,
// its nginx stream {} servers) to the endpoints of their Services: round
// robin, the next endpoint when a connection to one fails, PROXY protocol
// from the client and to the upstream, an idle timeout, and a drain at
// shutdown. A Server is a controller.Publisher: each Snapshot opens the
// listeners of new ports, closes those of removed ports and points the
// others at the new endpoints; connections already established are never
// cut by a change.
package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// DefaultConnectTimeout bounds a connection to one endpoint: nginx's
// proxy_connect_timeout in a stream server, which ingress-nginx leaves at
// its default.
const DefaultConnectTimeout = 60 * time.Second

// MaxUDPSessions bounds the UDP sessions (client addresses) of one port: a
// datagram from a new client beyond it is dropped and counted.
const MaxUDPSessions = 4096

// Options configures a Server.
type Options struct {
	// BindAddress is the address the stream ports bind. Empty means all
	// addresses. Default "".
	BindAddress string
	// ConnectTimeout bounds a connection to one endpoint. Zero means
	// DefaultConnectTimeout (60s).
	ConnectTimeout time.Duration
	// Registry receives the weir_stream_* metrics. Nil means none.
	Registry prometheus.Registerer
	// Logger receives the stream log. Nil means slog.Default().
	Logger *slog.Logger
	// AccessLog receives the log-format-stream line of every session when
	// it ends (ingress-nginx's stream access_log). Nil means none.
	AccessLog io.Writer
}

// settings are the ConfigMap settings of the stream block, compiled once
// per Snapshot.
type settings struct {
	timeout             time.Duration // proxy-stream-timeout
	nextUpstream        bool          // proxy-stream-next-upstream
	nextUpstreamTries   int           // proxy-stream-next-upstream-tries
	nextUpstreamTimeout time.Duration // proxy-stream-next-upstream-timeout
	responses           int           // proxy-stream-responses
	// realIP and realIPFrom: the stream block's set_real_ip_from, written
	// only with enable-real-ip.
	realIP     bool
	realIPFrom []netip.Prefix
	// logFormat is log-format-stream; logOff is disable-access-log or
	// disable-stream-access-log.
	logFormat []annotations.LogSegment
	logOff    bool
}

func compileSettings(g annotations.Global) *settings {
	st := &settings{
		timeout:             g.StreamTimeout(),
		nextUpstream:        g.StreamNextUpstream(),
		nextUpstreamTries:   g.StreamNextUpstreamTries(),
		nextUpstreamTimeout: g.StreamNextUpstreamTimeout(),
		responses:           g.StreamResponses(),
		realIP:              g.EnableRealIP,
		logFormat:           annotations.ParseStreamLogFormat(g.Logs.StreamFormat()),
		logOff:              g.DisableAccessLog || g.DisableStreamAccessLog,
	}
	for _, c := range g.RealIPFrom() {
		if p, err := netip.ParsePrefix(c); err == nil {
			st.realIPFrom = append(st.realIPFrom, p)
		}
	}
	return st
}

// trusts reports whether the PROXY header of a connection from peer gives
// the client address.
func (st *settings) trusts(peer netip.Addr) bool {
	if !st.realIP {
		return false
	}
	peer = peer.Unmap()
	for _, p := range st.realIPFrom {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// target is what a port forwards to under one Snapshot: connections keep
// the target they started with.
type target struct {
	stream   snapshot.Stream
	settings *settings
	// next is the round-robin cursor, shared by the targets of one port
	// so that a new Snapshot does not restart it.
	next *atomic.Uint64
}

// label is the ingress-nginx upstream name of t's Service:
// "tcp-namespace-name-port".
func (t *target) label() string {
	s := &t.stream
	return fmt.Sprintf("%s-%s-%s-%s", lower(s.Protocol), s.Service.Namespace, s.Service.Name, s.ServicePort)
}

func lower(proto string) string {
	if proto == snapshot.ProtocolUDP {
		return "udp"
	}
	return "tcp"
}

// order returns the endpoints of t in the order to try them: round robin
// from the port's cursor.
func (t *target) order() []string {
	eps := t.stream.Endpoints
	if len(eps) == 0 {
		return nil
	}
	start := int(t.next.Add(1)-1) % len(eps)
	out := make([]string, 0, len(eps))
	for i := range eps {
		out = append(out, eps[(start+i)%len(eps)])
	}
	return out
}

// port is one listening port.
type port struct {
	key    key
	target atomic.Pointer[target]
	next   atomic.Uint64
	close  func() error
}

type key struct {
	proto string
	port  int
}

// Server forwards the Streams of the live Snapshot. It is safe for
// concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	access  *accessLog // nil: no access log

	mu       sync.Mutex
	ports    map[key]*port
	conns    map[live]struct{} // established TCP connections and UDP sessions
	draining bool
	wg       sync.WaitGroup // one per connection or session
}

// live is an established connection or UDP session: what Shutdown closes.
type live interface{ abort() }

// New returns a Server that listens on nothing until the first Apply.
func New(opts Options) *Server {
	opts.ConnectTimeout = cmp.Or(opts.ConnectTimeout, DefaultConnectTimeout)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	srv := &Server{opts: opts, log: opts.Logger, metrics: newMetrics(opts.Registry),
		ports: map[key]*port{}, conns: map[live]struct{}{}}
	if opts.AccessLog != nil {
		srv.access = &accessLog{w: opts.AccessLog}
	}
	return srv
}

// Apply listens on the ports of s.Streams, stops listening on the others,
// and points every port at its new endpoints. A port it cannot listen on is
// reported in the error (the others are served) and tried again with the
// next Snapshot. Established connections are left as they are. After
// Shutdown it does nothing.
func (srv *Server) Apply(s *snapshot.Snapshot) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.draining {
		return nil
	}
	st := compileSettings(s.Global)
	want := make(map[key]bool, len(s.Streams))
	var errs []error
	for _, stream := range s.Streams {
		k := key{stream.Protocol, stream.Port}
		want[k] = true
		if p := srv.ports[k]; p != nil {
			p.target.Store(&target{stream: stream, settings: st, next: &p.next})
			continue
		}
		p, err := srv.listen(k, func(p *port) *target { return &target{stream: stream, settings: st, next: &p.next} })
		if err != nil {
			errs = append(errs, err)
			continue
		}
		srv.ports[k] = p
		srv.log.Info("stream port open", "protocol", k.proto, "port", k.port,
			"service", stream.Service.Namespace+"/"+stream.Service.Name+":"+stream.ServicePort)
	}
	for k, p := range srv.ports {
		if !want[k] {
			_ = p.close()
			delete(srv.ports, k)
			srv.log.Info("stream port closed", "protocol", k.proto, "port", k.port)
		}
	}
	return errors.Join(errs...)
}

// Ports returns the ports listening now, as "TCP/9000", in no order.
func (srv *Server) Ports() []string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]string, 0, len(srv.ports))
	for k := range srv.ports {
		out = append(out, k.proto+"/"+strconv.Itoa(k.port))
	}
	return out
}

// listen opens the socket of k and starts serving it under the target
// first returns; the caller holds mu. The target is in place before the
// first connection is accepted: an accept never sees a port without one.
func (srv *Server) listen(k key, first func(*port) *target) (*port, error) {
	addr := net.JoinHostPort(srv.opts.BindAddress, strconv.Itoa(k.port))
	lc := net.ListenConfig{Control: reusePort}
	p := &port{key: k}
	p.target.Store(first(p))
	switch k.proto {
	case snapshot.ProtocolTCP:
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen on tcp stream port %s: %w", addr, err)
		}
		p.close = ln.Close
		go srv.serveTCP(p, ln)
	case snapshot.ProtocolUDP:
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen on udp stream port %s: %w", addr, err)
		}
		p.close = pc.Close
		go srv.serveUDP(p, pc.(*net.UDPConn))
	default:
		return nil, fmt.Errorf("listen on stream port %d: unknown protocol %q", k.port, k.proto)
	}
	return p, nil
}

// reusePort sets SO_REUSEPORT, so that a new Weir (binary upgrade) can bind
// the stream ports while the old one drains them.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	return cmp.Or(err, serr)
}

// track registers an established connection or session; false means the
// Server drains and c must be dropped.
func (srv *Server) track(c live) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.draining {
		return false
	}
	srv.conns[c] = struct{}{}
	srv.wg.Add(1)
	return true
}

func (srv *Server) untrack(c live) {
	srv.mu.Lock()
	_, ok := srv.conns[c]
	delete(srv.conns, c)
	srv.mu.Unlock()
	if ok {
		srv.wg.Done()
	}
}

// Shutdown stops listening on every port, lets the established
// connections and UDP sessions go on for up to timeout (ingress-nginx's
// worker-shutdown-timeout), then closes those left. It returns once all
// are gone; later Applies do nothing.
func (srv *Server) Shutdown(timeout time.Duration) {
	srv.mu.Lock()
	srv.draining = true
	for k, p := range srv.ports {
		_ = p.close()
		delete(srv.ports, k)
	}
	n := len(srv.conns)
	srv.mu.Unlock()
	if n > 0 {
		srv.log.Info("stream ports closed: draining established connections", "connections", n, "timeout", timeout)
	}
	done := make(chan struct{})
	go func() { srv.wg.Wait(); close(done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	srv.mu.Lock()
	left := make([]live, 0, len(srv.conns))
	for c := range srv.conns {
		left = append(left, c)
	}
	srv.mu.Unlock()
	if len(left) > 0 {
		srv.log.Info("stream drain timed out: closing connections", "connections", len(left))
	}
	for _, c := range left {
		c.abort()
	}
	<-done
}

// Drain runs Shutdown(timeout) alongside the caller's own drain and returns
// the function that waits for it.
func (srv *Server) Drain(timeout time.Duration) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Shutdown(timeout)
	}()
	return func() { <-done }
}
