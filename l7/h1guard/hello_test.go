package h1guard

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// record returns a TLS record of type typ, version 0x0301, holding body.
func record(typ byte, body []byte) []byte {
	return append([]byte{typ, 3, 1, byte(len(body) >> 8), byte(len(body))}, body...)
}

// pattern returns n bytes that differ from their neighbours.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// TestHelloConnFragments: the first record, a handshake record larger than
// maxHelloFragment, comes out of helloConn as records of the same type and
// version, each of helloFragment's size (the last shorter), one record a
// Read, holding the same bytes; what follows it, and any other first
// record, comes out unchanged; a first record cut short comes out as it was
// read, then the error.
func TestHelloConnFragments(t *testing.T) {
	t.Parallel()
	after := record(20, []byte{1}) // the bytes after the first record: a ChangeCipherSpec
	for _, tc := range []struct {
		name  string
		first []byte // the first record as sent
		frag  int    // the fragment size; 0: the first record comes out unchanged
		cut   bool   // the connection ends inside the first record
	}{
		{name: "ML-KEM ClientHello", first: record(22, pattern(1500)), frag: 384},
		{name: "1700 bytes", first: record(22, pattern(1700)), frag: 448},
		{name: "2000 bytes", first: record(22, pattern(2000)), frag: 512},
		{name: "large ClientHello", first: record(22, pattern(9000)), frag: maxHelloFragment},
		{name: "small ClientHello", first: record(22, pattern(maxHelloFragment))},
		{name: "not a handshake record", first: record(23, pattern(1500))},
		{name: "over the record limit", first: record(22, pattern(maxPlaintext+1))},
		{name: "cut short", first: record(22, pattern(1500))[:900], cut: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, server := net.Pipe()
			t.Cleanup(func() { client.Close() })
			go func() {
				// In three writes: the fragments wait for the whole record.
				n := len(tc.first)
				client.Write(tc.first[:3])
				client.Write(tc.first[3 : n/2])
				client.Write(tc.first[n/2:])
				if tc.cut {
					client.Close()
					return
				}
				client.Write(after)
			}()
			hc := newHelloConn(server)
			_ = server.SetDeadline(time.Now().Add(10 * time.Second))
			var reads [][]byte
			var err error
			total := len(tc.first) + len(after)
			if tc.frag > 0 {
				total += (len(tc.first) - recordHeaderLen + tc.frag - 1) / tc.frag * recordHeaderLen
				total -= recordHeaderLen
			}
			for got := 0; got < total && err == nil; {
				buf := make([]byte, 20000)
				var n int
				n, err = hc.Read(buf)
				if n > 0 {
					reads = append(reads, buf[:n])
					got += n
				}
			}
			if tc.cut {
				if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(bytes.Join(reads, nil), tc.first) {
					t.Fatalf("cut short: read %d bytes and %v, want the %d sent and io.ErrUnexpectedEOF", len(bytes.Join(reads, nil)), err, len(tc.first))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.frag == 0 {
				if got := bytes.Join(reads, nil); !bytes.Equal(got, append(append([]byte(nil), tc.first...), after...)) {
					t.Fatalf("got %d bytes, want the %d sent unchanged", len(got), len(tc.first)+len(after))
				}
				return
			}
			var body []byte
			for i, r := range reads[:len(reads)-1] {
				size := int(r[3])<<8 | int(r[4])
				last := i == len(reads)-2
				if !bytes.Equal(r[:3], tc.first[:3]) || len(r) != recordHeaderLen+size || size > tc.frag || !last && size != tc.frag {
					t.Fatalf("read %d: header % x, %d bytes: want one record of %d bytes (fewer for the last) of type and version % x", i, r[:5], len(r), tc.frag, tc.first[:3])
				}
				body = append(body, r[recordHeaderLen:]...)
			}
			if !bytes.Equal(body, tc.first[recordHeaderLen:]) {
				t.Errorf("the fragments hold other bytes than the record")
			}
			if !bytes.Equal(reads[len(reads)-1], after) {
				t.Errorf("after the fragments: % x, want % x", reads[len(reads)-1], after)
			}
			if hc.Buffered() != 0 {
				t.Errorf("Buffered() = %d once the record is read, want 0", hc.Buffered())
			}
		})
	}
}

// TestHelloConnSmallReads: reads smaller than a record get the fragments'
// bytes in order.
func TestHelloConnSmallReads(t *testing.T) {
	t.Parallel()
	first := record(22, pattern(1000))
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close() })
	go func() {
		client.Write(first)
		client.Close()
	}()
	hc := newHelloConn(server)
	got, err := io.ReadAll(readerFunc(func(p []byte) (int, error) { return hc.Read(p[:min(len(p), 7)]) }))
	if err != nil {
		t.Fatal(err)
	}
	want := append(record(22, pattern(1000)[:384]), record(22, pattern(1000)[384:768])...)
	want = append(want, record(22, pattern(1000)[768:])...)
	if !bytes.Equal(got, want) {
		t.Errorf("7 bytes a read: got %d bytes, want the %d of 3 fragments", len(got), len(want))
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestHelloConnHandshakes: handshakes through TLSConns, whose first
// records come to crypto/tls in fragments, complete as without them: TLS
// 1.3 with Go's ML-KEM key share, TLS 1.2, a HelloRetryRequest (the
// server's curves exclude the client's key shares), session resumption, a
// client certificate, and a ClientHello over 2 KiB.
func TestHelloConnHandshakes(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	clientCert := ca.Client(t, "client")
	for _, tc := range []struct {
		name   string
		server func(*tls.Config)
		client func(*tls.Config)
		check  func(tls.ConnectionState) string // what is wrong, or ""
	}{
		{name: "tls1.3", check: func(st tls.ConnectionState) string {
			if st.Version != tls.VersionTLS13 || st.CurveID != tls.X25519MLKEM768 {
				return "want TLS 1.3 with X25519MLKEM768"
			}
			return ""
		}},
		{name: "tls1.2", client: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, check: func(st tls.ConnectionState) string {
			if st.Version != tls.VersionTLS12 {
				return "want TLS 1.2"
			}
			return ""
		}},
		{name: "hello retry", server: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP256} }, check: func(st tls.ConnectionState) string {
			if st.CurveID != tls.CurveP256 {
				return "want P-256"
			}
			return ""
		}},
		{name: "client certificate", server: func(c *tls.Config) { c.ClientAuth = tls.RequireAnyClientCert },
			client: func(c *tls.Config) { c.Certificates = []tls.Certificate{clientCert} },
			check: func(st tls.ConnectionState) string {
				if len(st.PeerCertificates) != 1 {
					return "want the client's certificate"
				}
				return ""
			}},
		{name: "large hello", client: func(c *tls.Config) {
			for i := range 100 {
				c.NextProtos = append(c.NextProtos, fmt.Sprintf("proto-%03d-padding-padding", i))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := ca.ServerConfig(t, "tls.test", "http/1.1")
			if tc.server != nil {
				tc.server(cfg)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			tl := New(Options{}).TLSConns(ln, cfg)
			t.Cleanup(func() { tl.Close() })
			type result struct {
				st  tls.ConnectionState
				err error
			}
			served := make(chan result, 2)
			go func() {
				for {
					c, err := tl.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						_ = c.SetDeadline(time.Now().Add(10 * time.Second))
						tc := c.(*tls.Conn)
						var b [5]byte
						_, err := io.ReadFull(tc, b[:])
						if err == nil {
							_, err = tc.Write(b[:])
						}
						served <- result{tc.ConnectionState(), err}
					}()
				}
			}()
			ccfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "tls.test", NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			if tc.client != nil {
				tc.client(ccfg)
			}
			for i := range 2 { // the second resumes the first's session
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), ccfg)
				if err != nil {
					t.Fatalf("handshake %d: %v", i, err)
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				var b [5]byte
				if _, err := c.Write([]byte("hello")); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, b[:]); err != nil || string(b[:]) != "hello" {
					t.Fatalf("connection %d: echo %q, %v", i, b, err)
				}
				if st := c.ConnectionState(); i == 1 && !st.DidResume {
					t.Errorf("second connection: not resumed")
				}
				c.Close()
				r := <-served
				if r.err != nil {
					t.Fatalf("server, connection %d: %v", i, r.err)
				}
				if tc.check != nil {
					if msg := tc.check(r.st); msg != "" {
						t.Errorf("connection %d: version %x, curve %v: %s", i, r.st.Version, r.st.CurveID, msg)
					}
				}
			}
		})
	}
}
