// Package tcplisten turns a listening TCP socket into a net.Listener whose
// Accept makes fewer system calls per connection, with the same socket
// options on every accepted connection.
//
// Go's accept sets TCP keep-alive on each connection it accepts: four
// setsockopt calls (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT)
// per connection, which nginx does not make. Linux copies these options from
// the listening socket to each connection it queues, so this package sets
// them once, on the listening socket (SetKeepAlive before listen, and
// FileListener again when it becomes a listener), and tells the listener's
// Accept to leave them as inherited. TCP_NODELAY stays set by Go at each
// accept (net sets it unconditionally).
package tcplisten

import (
	"fmt"
	"net"
	"os"
	"reflect"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// KeepAlive is the TCP keep-alive of client connections: what Go's accept
// sets on the connections of a listener made by net.FileListener (probes
// after 15 s idle, every 15 s, 9 of them), so a client sees the same as
// before this package.
var KeepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}

// FileListener is net.FileListener for a listening socket whose accepted
// connections are to have KeepAlive. On a TCP socket it sets KeepAlive on
// the listening socket, which the connections inherit, instead of on each
// connection. If net's listener is not laid out as this package expects (a
// new Go), Accept sets KeepAlive per connection as before: the same options,
// four system calls more per connection. A connection queued before
// FileListener takes the socket inherited what the socket had then: a
// socket made for it sets KeepAlive before listen (SetKeepAlive). The
// caller keeps f, as with net.FileListener.
func FileListener(f *os.File) (net.Listener, error) {
	return fileListener(f, KeepAlive)
}

func fileListener(f *os.File, ka net.KeepAliveConfig) (net.Listener, error) {
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return ln, nil
	}
	if err := setKeepAlive(tl, ka); err != nil {
		ln.Close()
		return nil, fmt.Errorf("set keep-alive on %s: %w", f.Name(), err)
	}
	leaveKeepAlive(tl)
	return ln, nil
}

// SetKeepAlive sets KeepAlive on the TCP socket fd. On a socket about to
// listen, it is set before any connection can queue: FileListener sets it
// too, but a connection queued before that (while a worker starts) would
// not inherit it.
func SetKeepAlive(fd int) error {
	return setKeepAliveFD(fd, KeepAlive)
}

func setKeepAliveFD(fd int, ka net.KeepAliveConfig) error {
	for _, o := range []struct {
		level, opt, v int
	}{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(ka.Enable)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(ka.Idle / time.Second)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(ka.Interval / time.Second)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, ka.Count},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
			return err
		}
	}
	return nil
}

// setKeepAlive sets ka on ln's socket, for its accepted connections to
// inherit.
func setKeepAlive(ln *net.TCPListener, ka net.KeepAliveConfig) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = setKeepAliveFD(int(fd), ka) }); err != nil {
		return err
	}
	return serr
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// leaveKeepAlive makes ln's Accept leave the keep-alive options of the
// connections it accepts as they inherited them, and reports whether it
// could. Accept sets keep-alive from the listener's ListenConfig, which net
// keeps unexported (zero, so Go's 15 s, for a listener made from a file),
// hence reflect. It must run before any Accept. If the field is not there,
// or not a ListenConfig, it changes nothing.
func leaveKeepAlive(ln *net.TCPListener) bool {
	v := reflect.ValueOf(ln).Elem().FieldByName("lc")
	if !v.IsValid() || v.Type() != reflect.TypeFor[net.ListenConfig]() {
		return false
	}
	lc := (*net.ListenConfig)(unsafe.Pointer(v.UnsafeAddr()))
	lc.KeepAlive = -1 // negative: Accept sets no keep-alive
	lc.KeepAliveConfig = net.KeepAliveConfig{}
	return true
}
