package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/grpcecho"
	"github.com/weir-lb/weir/userspace/annotations"
)

// tlsFront serves p over TLS with HTTP/2 on 127.0.0.1, as Weir's HTTPS
// listener does.
func tlsFront(tb testing.TB, p *Proxy) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(p)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	tb.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	return srv
}

func grpcRoute(tb testing.TB, proto annotations.Protocol, endpoint string) *Proxy {
	tb.Helper()
	p := New(Options{})
	be := backendOf("grpc", []string{endpoint}, withUpstream(annotations.Upstream{Protocol: proto}))
	if err := p.Apply(snap(1, "grpc.test", be)); err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestGRPC mirrors ingress-nginx's grpc e2e cases with a real gRPC client
// and server, through Weir over TLS and HTTP/2: a unary call with its
// trailer and the authority kept, an error status relayed, and a
// bidirectional stream; for GRPC (clear text to the server) and GRPCS.
func TestGRPC(t *testing.T) {
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "grpc.test")
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		proto annotations.Protocol
		cert  *tls.Certificate
	}{{annotations.ProtocolGRPC, nil}, {annotations.ProtocolGRPCS, &pair}} {
		t.Run(string(tc.proto), func(t *testing.T) {
			srv := tlsFront(t, grpcRoute(t, tc.proto, grpcecho.Start(t, tc.cert)))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := grpcecho.Exercise(ctx, grpcecho.Dial(t, srv.Listener.Addr().String(), "grpc.test"), "grpc.test"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGRPCUpstreamDown: an unreachable gRPC server is nginx's 502, which a
// gRPC client reads as Unavailable.
func TestGRPCUpstreamDown(t *testing.T) {
	srv := tlsFront(t, grpcRoute(t, annotations.ProtocolGRPC, refusedAddr(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cc := grpcecho.Dial(t, srv.Listener.Addr().String(), "grpc.test")
	err := cc.Invoke(ctx, grpcecho.Unary, wrapperspb.String("hi"), new(wrapperspb.StringValue))
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
}

// TestBackendProtocolH2C: an H2C route speaks HTTP/2 with prior knowledge
// to its endpoint, for an HTTP/1.1 client too, trailers included.
func TestBackendProtocolH2C(t *testing.T) {
	up := h2cBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-T")
		w.Write([]byte(r.Proto + " " + r.Host))
		w.Header().Set("X-T", "v")
	})
	be := backendOf("svc", []string{addr(up)}, withUpstream(annotations.Upstream{Protocol: annotations.ProtocolH2C}))
	_, srv := front(t, Options{}, snap(1, "a.test", be))
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Host = "a.test"
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "HTTP/2.0 a.test" || resp.Trailer.Get("X-T") != "v" {
		t.Fatalf("got %d %q trailer %v, want 200 \"HTTP/2.0 a.test\" X-T v", resp.StatusCode, body, resp.Trailer)
	}
}

// TestTeTrailersToHTTP2Only: a client's "TE: trailers" reaches an HTTP/2
// endpoint (nginx's grpc module sends $grpc_internal_trailers) and not an
// HTTP/1.1 one (its proxy module sends TE ""), with or without a body.
func TestTeTrailersToHTTP2Only(t *testing.T) {
	saw := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("te=" + r.Header.Get("Te")))
	}
	for _, tc := range []struct {
		proto annotations.Protocol
		up    string
		want  string
	}{
		{annotations.ProtocolH2C, addr(h2cBackend(t, saw)), "te=trailers"},
		{annotations.ProtocolHTTP, addr(backend(t, saw)), "te="},
	} {
		be := backendOf("svc", []string{tc.up}, withUpstream(annotations.Upstream{Protocol: tc.proto}))
		_, srv := front(t, Options{}, snap(1, "a.test", be))
		for _, body := range []string{"", "abc"} {
			req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(body))
			req.Host = "a.test"
			req.Header.Set("Te", "deflate, trailers")
			resp, err := client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != tc.want {
				t.Errorf("%s, body %q: upstream answered %q, want %q", tc.proto, body, got, tc.want)
			}
		}
	}
}

// h2cBackend starts an HTTP/2 (prior knowledge) server on 127.0.0.1 with h;
// the test closes it.
func h2cBackend(tb testing.TB, h http.HandlerFunc) *httptest.Server {
	tb.Helper()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	up := httptest.NewUnstartedServer(h)
	up.Config.Protocols = &protos
	up.Start()
	tb.Cleanup(up.Close)
	return up
}

// TestH2ReadTimeout: grpc_read_timeout bounds the wait for the response
// header (504) and then between two reads of the body (the response is
// cut).
func TestH2ReadTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	up := h2cBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			io.WriteString(w, "part")
			w.(http.Flusher).Flush()
		}
		<-release
	})
	be := backendOf("svc", []string{addr(up)}, withUpstream(annotations.Upstream{Protocol: annotations.ProtocolH2C}), readTimeout(1))
	_, srv := front(t, Options{}, snap(1, "a.test", be))
	c := client(t)
	start := time.Now()
	if res := get(t, c, srv, "a.test", "/header"); res.status != http.StatusGatewayTimeout {
		t.Errorf("no header: got %d %v, want 504", res.status, res.err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("504 after %v, want about the 1s read timeout", took)
	}
	res := get(t, c, srv, "a.test", "/body")
	if res.status != 200 || res.body != "part" || res.err == nil {
		t.Errorf("stalled body: got %d %q %v, want 200 \"part\" cut short", res.status, res.body, res.err)
	}
}

// TestH2ClientCancelsBody: a client that resets its stream while its body
// is still open (a gRPC call cancelled mid-stream, here after the
// endpoint answered) ends the request; the HTTP/2 client's goroutine that
// reads the body, which outlives the handler, must not touch the
// handler's ResponseWriter after it returned (it crashed the process:
// http2responseWriter.SetReadDeadline on a finished stream).
func TestH2ClientCancelsBody(t *testing.T) {
	// The endpoint answers at once without reading the body, so that the
	// handler returns while the client's body is still open.
	up := h2cBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Write([]byte{0, 0, 0, 0, 2, 'o', 'k'})
	})
	srv := tlsFront(t, grpcRoute(t, annotations.ProtocolGRPC, addr(up)))
	c := srv.Client()
	t.Cleanup(c.CloseIdleConnections)
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/weir.test.Echo/Bidi", pr)
		req.Host = "grpc.test"
		req.Header.Set("Content-Type", "application/grpc")
		go pw.Write([]byte{0, 0, 0, 0, 2, 'h', 'i'})
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body) // the handler has returned
		cancel()                       // RST_STREAM CANCEL with the body still open
		resp.Body.Close()
		pw.Close()
	}
	// The proxy still serves: its process did not die under the resets.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/weir.test.Echo/Bidi", http.NoBody)
	req.Host = "grpc.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after the resets: %d, want 200", resp.StatusCode)
	}
}

// TestH2EndsBeforeRequestBody: an HTTP/2 endpoint that ends its response
// (trailers and all) while the client still sends (a gRPC server that
// fails a client stream early) has its end reach the client at once, as
// nginx's grpc_pass relays it; Weir waited for the client's next data or
// its body timeout.
func TestH2EndsBeforeRequestBody(t *testing.T) {
	up := h2cBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.Write([]byte{0, 0, 0, 0, 2, 'n', 'o'})
		w.Header().Set("Grpc-Status", "3")
	})
	srv := tlsFront(t, grpcRoute(t, annotations.ProtocolGRPC, addr(up)))
	c := srv.Client()
	t.Cleanup(c.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close() // the client's stream stays open until the end
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/weir.test.Echo/Bidi", pr)
	req.Host = "grpc.test"
	req.Header.Set("Content-Type", "application/grpc")
	go pw.Write([]byte{0, 0, 0, 0, 2, 'h', 'i'})
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || len(body) != 7 || resp.Trailer.Get("Grpc-Status") != "3" {
		t.Fatalf("got %q %v trailer %v, want the message and grpc-status 3 before the client's body ends", body, err, resp.Trailer)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the response ended after %v, want at once", took)
	}
}
