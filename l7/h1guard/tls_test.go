package h1guard

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/testutil"
)

// TestTLSListener: a connection that negotiated h2 is served HTTP/2 by
// net/http as before; one that negotiated http/1.1 is guarded, and its
// requests keep Request.TLS.
func TestTLSListener(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	cfg := ca.ServerConfig(t, "tls.test", "h2", "http/1.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: New(Options{}).TLSHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
		})),
		ConnContext: ConnContext,
		TLSConfig:   cfg,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(New(Options{}).TLSListener(ln, cfg))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	addr := ln.Addr().String()
	for h2, want := range map[bool]string{true: "HTTP/2.0 tls=true", false: "HTTP/1.1 tls=true"} {
		resp, err := ca.HTTPSClient(t, "tls.test", h2).Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("h2 %v: %v", h2, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("h2 %v: got %q, want %q", h2, b, want)
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "tls.test", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if rs := testutil.RawExchangeOn(t, c, "OPTIONS * HTTP/1.1\r\nHost: tls.test\r\n\r\n"); len(rs) != 1 || rs[0].StatusCode != http.StatusBadRequest {
		t.Errorf("OPTIONS * over http/1.1: statuses %v, want one 400", testutil.Statuses(rs))
	}
}

// TestTLSListenerCloseEndsHandshakes: closing the listener ends the
// handshakes under way instead of leaving them to their 60 s timeout.
func TestTLSListenerCloseEndsHandshakes(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1)
	tl := New(Options{}).TLSListener(&notifyingListener{Listener: ln, accepted: accepted}, &tls.Config{})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The handshake is under way once the connection is accepted.
	if _, err := c.Write([]byte{0x16, 0x03, 0x01}); err != nil {
		t.Fatal(err)
	}
	<-accepted
	tl.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the connection in its handshake was not closed with the listener: %v", err)
	}
}

// timeoutSource is a Source whose client-header-timeout is d.
type timeoutSource struct{ d time.Duration }

func (timeoutSource) HeaderLimits() (buffers, size int) { return 0, 0 }
func (s timeoutSource) HeaderTimeout() time.Duration    { return s.d }

// TestTLSHandshakeTimeout: a TLS handshake is held to the live
// client-header-timeout (TimeoutSource), as nginx reads it under
// client_header_timeout: with 3 s, nginx 1.22.1 closed a client that sent
// nothing, and one that sent half a ClientHello, after 3 s. Before, it was
// always 60 s.
func TestTLSHandshakeTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"silent", nil},
		{"half a ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			tl := New(Options{Source: timeoutSource{200 * time.Millisecond}}).TLSListener(ln, &tls.Config{})
			t.Cleanup(func() { tl.Close() })
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("a stalled handshake was not closed at the 200ms client-header-timeout: %v", err)
			}
		})
	}
}

// notifyingListener signals each accepted connection on accepted.
type notifyingListener struct {
	net.Listener
	accepted chan<- struct{}
}

func (l *notifyingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return c, err
}

// TestPlainHTTPToTLSPort: a plain HTTP request sent to the TLS listener is
// answered as nginx answers it (its internal 497): its head is read and
// checked as any other's, so a malformed one gets the page of its fault,
// and a valid one gets 400 with the page "The plain HTTP request was sent
// to HTTPS port", the header alone to HEAD, and the connection closed.
// Read off nginx 1.22 with `listen ... ssl` on 127.0.0.1.
func TestPlainHTTPToTLSPort(t *testing.T) {
	t.Parallel()
	const plainPage = "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n" +
		"<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n" +
		"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	head := func(status, length string) string {
		return "HTTP/1.1 " + status + "\r\nDate: D\r\nContent-Type: text/html\r\nContent-Length: " + length + "\r\nConnection: close\r\n\r\n"
	}
	reg := prometheus.NewRegistry()
	g := New(Options{Registry: reg})
	ca := certstest.NewCA(t)
	for _, raw := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var tl net.Listener
		if raw {
			tl = g.TLSConns(ln, ca.ServerConfig(t, "tls.test", "http/1.1"))
		} else {
			tl = g.TLSListener(ln, ca.ServerConfig(t, "tls.test", "http/1.1"))
		}
		t.Cleanup(func() { tl.Close() })
		cases := []struct{ name, req, want string }{
			{"get", "GET / HTTP/1.1\r\nHost: tls.test\r\n\r\n", head("400 Bad Request", "248") + plainPage},
			{"http/1.0 without host", "GET /x HTTP/1.0\r\n\r\n", head("400 Bad Request", "248") + plainPage},
			{"post with body", "POST / HTTP/1.1\r\nHost: tls.test\r\nContent-Length: 5\r\n\r\nhello", head("400 Bad Request", "248") + plainPage},
			{"head", "HEAD / HTTP/1.1\r\nHost: tls.test\r\n\r\n", head("400 Bad Request", "248")},
			{"no host", "GET / HTTP/1.1\r\n\r\n", head("400 Bad Request", "150") + ErrorPage(400)},
			{"trace", "TRACE / HTTP/1.1\r\nHost: tls.test\r\n\r\n", head("405 Not Allowed", "150") + ErrorPage(405)},
			{"http/2.0", "GET / HTTP/2.0\r\nHost: tls.test\r\n\r\n", head("505 HTTP Version Not Supported", "180") + ErrorPage(505)},
			{"uri too long", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: tls.test\r\n\r\n", head("414 Request-URI Too Large", "170") + ErrorPage(414)},
		}
		for _, tc := range cases {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte(tc.req)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			c.Close()
			if err != nil {
				t.Errorf("raw %v, %s: %v (the connection was not closed)", raw, tc.name, err)
			}
			norm := dateField.ReplaceAllString(string(got), "Date: D")
			if norm != tc.want {
				t.Errorf("raw %v, %s:\n got %q\nwant %q", raw, tc.name, norm, tc.want)
			}
		}
	}
	if n := promtest.ToFloat64(g.counter.WithLabelValues("plain_http")); n != 8 {
		t.Errorf("plain_http rejections counted %v, want 8", n)
	}
}

var dateField = regexp.MustCompile(`Date: [^\r]*`)
