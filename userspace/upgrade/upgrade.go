// Package upgrade hands a running Weir's listening sockets and its XDP data
// path over to a new Weir process, as HAProxy's -x and Envoy's hot restart
// do, so that a binary upgrade refuses no connection and fails no request.
//
// The live Weir offers its sockets on a unix socket (Listen). A new Weir
// started with --upgrade connects (Take) and receives every listening socket
// (SCM_RIGHTS): the very socket objects, with their accept queues, not
// copies bound anew. It serves on them and, once its configuration is live,
// says so (Takeover.Serving). Only then does the old Weir give up its XDP
// pin folder (the pinned link stays attached, so XDP is never detached; the
// new Weir replaces the link's program atomically) and drain without
// refusing new connections: its workers stop accepting and close their
// copies of the sockets, which live on in the new Weir. A new Weir that goes
// away before it serves changes nothing: the old one serves on.
package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultSocket is where a Weir offers its sockets for an upgrade.
const DefaultSocket = "/run/weir/upgrade.sock"

// ErrHandedOver is the cause of the context a handed-over Weir's Run sees
// end: it drains without refusing new connections, since the sockets live
// on in the new Weir.
var ErrHandedOver = errors.New("handed over to a new weir")

// maxFiles bounds the sockets of one handover: two ports of MaxCPUs workers
// and the metrics listener, with room to spare.
const maxFiles = 256

// hello is the live Weir's first message, sent with its sockets.
type hello struct {
	// PID is the live Weir's process id.
	PID int `json:"pid"`
	// Names name the sockets, in the order they are passed.
	Names []string `json:"names"`
}

// step is every other message: the new Weir's "take" and "serving", the old
// one's "released".
type step struct {
	Step string `json:"step"`
}

// Offer is what the live Weir hands over.
type Offer struct {
	// Files are the listening sockets, in the order the new Weir's mode
	// expects them (daemon.Config.Listeners, supervisor.Config.Listeners).
	// Called once per upgrade; the caller's files are closed after sending.
	Files func() ([]*os.File, []string, error)
	// Release gives up the XDP pin folder (the pinned link stays attached).
	// Called once the new Weir serves, before it is told "released". Nil
	// means nothing to release.
	Release func()
	// HandedOver is called once the new Weir serves and took the data path:
	// the live Weir then drains (its Run's context ends with ErrHandedOver).
	HandedOver func()
	// Logger receives the progress. Nil means slog.Default().
	Logger *slog.Logger
}

// Server offers the live Weir's sockets on a unix socket.
type Server struct {
	offer Offer
	path  string
	ln    *net.UnixListener
	done  chan struct{}
	once  sync.Once
}

// Listen offers o on the unix socket at path, creating its folder. A stale
// socket file (its Weir gone) is replaced; one a running Weir answers on is
// an error.
func Listen(path string, o Offer) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("offer sockets for upgrade: create folder of %s: %w", path, err)
	}
	addr := &net.UnixAddr{Name: path, Net: "unixpacket"}
	ln, err := net.ListenUnix("unixpacket", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		c, derr := net.DialTimeout("unixpacket", path, time.Second)
		if derr == nil {
			c.Close()
			return nil, fmt.Errorf("offer sockets for upgrade on %s: another running weir offers its own there; give this one its own --upgrade-socket", path)
		}
		os.Remove(path) // stale: its weir is gone
		ln, err = net.ListenUnix("unixpacket", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("offer sockets for upgrade: %w", err)
	}
	// Whoever connects can take the listening sockets and the data path:
	// the socket is the owner's alone whatever the umask or the folder
	// (one given by --upgrade-socket may be shared), and serve checks
	// each peer's user too, since a connection could come between the
	// bind and this.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("offer sockets for upgrade: restrict %s to its owner: %w", path, err)
	}
	s := &Server{offer: o, path: path, ln: ln, done: make(chan struct{})}
	go s.serve()
	return s, nil
}

// Path is the unix socket's path.
func (s *Server) Path() string { return s.path }

// Close stops offering (and removes the socket file).
func (s *Server) Close() error {
	var err error
	s.once.Do(func() { err = s.ln.Close() })
	<-s.done
	return err
}

// serve hands over to one new Weir at a time, until one serves or Close.
func (s *Server) serve() {
	defer close(s.done)
	log := s.offer.Logger
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		if err := ownUser(c); err != nil {
			log.Warn("upgrade refused", "error", err)
			c.Close()
			continue
		}
		handed, err := s.handover(c)
		c.Close()
		if handed {
			return
		}
		if errors.Is(err, errNoTake) { // a probe (Listen), not a Weir
			continue
		}
		log.Warn("upgrade abandoned: the new weir went away before it served; serving on", "error", err)
	}
}

// ownUser checks that the peer of c runs as this process's effective user
// or as root (SO_PEERCRED): only they may take its sockets.
func ownUser(c *net.UnixConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("peer of upgrade socket: %w", err)
	}
	var cred *unix.Ucred
	if cerr := rc.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); cerr != nil {
		return fmt.Errorf("peer of upgrade socket: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("peer of upgrade socket: %w", err)
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("peer of upgrade socket: process %d runs as user %d, not this weir's %d or root", cred.Pid, cred.Uid, os.Geteuid())
	}
	return nil
}

// errNoTake is the handover of a connection that asked for nothing.
var errNoTake = errors.New("no take request")

// handover waits for "take", sends the sockets on c and waits for
// "serving"; then it releases the data path, stops offering, answers
// "released" and reports true.
func (s *Server) handover(c *net.UnixConn) (bool, error) {
	log := s.offer.Logger
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := expect(c, "take"); err != nil {
		return false, fmt.Errorf("%w: %w", errNoTake, err)
	}
	c.SetReadDeadline(time.Time{})
	files, names, err := s.offer.Files()
	if err != nil {
		return false, fmt.Errorf("hand sockets over: %w", err)
	}
	fds := make([]int, len(files))
	for i, f := range files {
		if err == nil {
			err = Control(f, func(fd int) error { fds[i] = fd; return nil })
		}
	}
	if err == nil {
		msg, _ := json.Marshal(hello{PID: os.Getpid(), Names: names})
		_, _, err = c.WriteMsgUnix(msg, unix.UnixRights(fds...), nil)
	}
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		return false, fmt.Errorf("hand sockets over: %w", err)
	}
	log.Info("upgrade: sockets handed to a new weir; serving until it says it serves", "sockets", len(files))
	if err := expect(c, "serving"); err != nil {
		return false, err
	}
	s.once.Do(func() { s.ln.Close() }) // the new weir offers next
	if s.offer.Release != nil {
		s.offer.Release()
	}
	if err := send(c, "released"); err != nil {
		log.Warn("upgrade: tell the new weir the data path is released", "error", err)
	}
	log.Info("upgrade: the new weir serves; draining")
	if s.offer.HandedOver != nil {
		s.offer.HandedOver()
	}
	return true, nil
}

func send(c *net.UnixConn, name string) error {
	msg, _ := json.Marshal(step{Step: name})
	_, err := c.Write(msg)
	return err
}

// expect reads one step and checks it is name.
func expect(c *net.UnixConn, name string) error {
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		return fmt.Errorf("wait for %q: %w", name, err)
	}
	var st step
	if err := json.Unmarshal(buf[:n], &st); err != nil || st.Step != name {
		return fmt.Errorf("wait for %q: got %q", name, buf[:n])
	}
	return nil
}

// Takeover is the new Weir's side of a handover.
type Takeover struct {
	conn *net.UnixConn
	// Files are the listening sockets received, in the live Weir's order.
	Files []*os.File
	// Names name them.
	Names []string
	// PID is the live Weir's process id.
	PID int
}

// Take connects to the Weir offering its sockets at path and receives them.
func Take(path string) (*Takeover, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("take over a running weir: %w", err)
	}
	if err := send(c, "take"); err != nil {
		c.Close()
		return nil, fmt.Errorf("take over the weir on %s: %w", path, err)
	}
	buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(maxFiles*4))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("take over the weir on %s: receive sockets: %w", path, err)
	}
	var fds []int
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err == nil {
		for _, m := range cmsgs {
			got, rerr := unix.ParseUnixRights(&m)
			if rerr != nil {
				err = rerr
				break
			}
			fds = append(fds, got...)
		}
	}
	var h hello
	if err == nil {
		err = json.Unmarshal(buf[:n], &h)
	}
	if err == nil && len(h.Names) != len(fds) {
		err = fmt.Errorf("%d sockets named, %d received", len(h.Names), len(fds))
	}
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		c.Close()
		return nil, fmt.Errorf("take over the weir on %s: receive sockets: %w", path, err)
	}
	t := &Takeover{conn: c, Names: h.Names, PID: h.PID}
	for i, fd := range fds {
		unix.CloseOnExec(fd)
		t.Files = append(t.Files, os.NewFile(uintptr(fd), h.Names[i]))
	}
	return t, nil
}

// Serving tells the old Weir that this one serves, and waits until it
// released the data path (or went away) for at most timeout.
func (t *Takeover) Serving(timeout time.Duration) error {
	if err := send(t.conn, "serving"); err != nil {
		return fmt.Errorf("tell the old weir (pid %d) this one serves: %w", t.PID, err)
	}
	t.conn.SetReadDeadline(time.Now().Add(timeout))
	if err := expect(t.conn, "released"); err != nil {
		return fmt.Errorf("old weir (pid %d): %w", t.PID, err)
	}
	return nil
}

// Close ends the exchange; before Serving, the old Weir serves on. The
// received Files stay the caller's.
func (t *Takeover) Close() error {
	return t.conn.Close()
}

// Control runs fn with the descriptor of f, a socket shared with another
// Weir, without what (*os.File).Fd does: Fd puts the descriptor in
// blocking mode, a flag of the open socket that every process holding it
// shares, and a worker blocked in accept then no longer wakes for its drain.
func Control(f *os.File, fn func(fd int) error) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("socket %s: %w", f.Name(), err)
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return fmt.Errorf("socket %s: %w", f.Name(), err)
	}
	return ferr
}
