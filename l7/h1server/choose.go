package h1server

import (
	"fmt"
	"net"
	"net/http"

	"github.com/weir-lb/weir/l7/drain"
	"github.com/weir-lb/weir/l7/h1guard"
)

// Kind names the server of plain HTTP/1.x connections (--http1-server).
type Kind string

// The kinds of Kind.
const (
	// KindNet is net/http's server, behind h1guard's connection wrapper.
	KindNet Kind = "net"
	// KindWeir is this package's Server.
	KindWeir Kind = "weir"
	// DefaultKind is the kind of an empty Kind.
	DefaultKind = KindWeir
)

// ParseKind parses the value of --http1-server; "" is DefaultKind.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case "":
		return DefaultKind, nil
	case KindNet, KindWeir:
		return Kind(s), nil
	}
	return "", fmt.Errorf("unknown HTTP/1 server %q (want weir or net)", s)
}

// ServePlain serves plain HTTP on ln with srv's settings and g's checks,
// for drain to drain: with KindNet through srv behind g's Listener, else
// through a Server. wrap (nil: none) wraps ln first (PROXY protocol,
// connection limits). It is the one place where the kind is chosen.
func ServePlain(k Kind, name string, srv *http.Server, g *h1guard.Guard, ln net.Listener, wrap func(net.Listener) net.Listener, errc chan<- error) drain.Server {
	guardOptions(srv)
	if wrap == nil {
		wrap = func(l net.Listener) net.Listener { return l }
	}
	if k == KindNet {
		return drain.Serve(name, srv, ln, func(l net.Listener) net.Listener { return g.Listener(wrap(l)) }, errc)
	}
	if g.H2C() {
		return servePlainH2C(name, srv, g, ln, wrap, errc) // h2c.go
	}
	return drain.ServeWith(name, srv, New(srv, g), ln, wrap, errc)
}

// guardOptions turns off srv's answer to "OPTIONS *" (200, before any
// handler), which only an HTTP/2 request reaches (g refuses the HTTP/1.x
// head), so that the guard answers it 400 as nginx does: it takes no
// asterisk form.
func guardOptions(srv *http.Server) { srv.DisableGeneralOptionsHandler = true }
