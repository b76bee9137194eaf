package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/annotations"
)

// echoService is a gRPC service without generated code: Unary echoes its
// StringValue (or fails with NotFound for "missing"), Bidi echoes each
// message of its stream and ends with a trailer.
var echoService = grpc.ServiceDesc{
	ServiceName: "weir.test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			if in.Value == "missing" {
				return nil, status.Error(codes.NotFound, "no such thing")
			}
			md, _ := metadata.FromIncomingContext(ctx)
			_ = grpc.SetTrailer(ctx, metadata.Pairs("x-unary-trailer", "t1"))
			return wrapperspb.String("echo " + in.Value + " host " + md.Get(":authority")[0]), nil
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName: "Bidi", ServerStreams: true, ClientStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			for {
				in := new(wrapperspb.StringValue)
				err := stream.RecvMsg(in)
				if errors.Is(err, io.EOF) {
					stream.SetTrailer(metadata.Pairs("x-stream-trailer", "done"))
					return nil
				}
				if err != nil {
					return err
				}
				if err := stream.SendMsg(wrapperspb.String("re " + in.Value)); err != nil {
					return err
				}
			}
		},
	}},
}

// grpcBackend starts a gRPC server on 127.0.0.1, over TLS with a
// certificate of ca when ca is not nil; the test stops it.
func grpcBackend(tb testing.TB, ca *certstest.CA) string {
	tb.Helper()
	var opts []grpc.ServerOption
	if ca != nil {
		crt, key := ca.Issue(tb, "grpc.test")
		pair, err := tls.X509KeyPair(crt, key)
		if err != nil {
			tb.Fatal(err)
		}
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(&pair)))
	}
	s := grpc.NewServer(opts...)
	s.RegisterService(&echoService, struct{}{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go s.Serve(ln)
	tb.Cleanup(s.Stop)
	return ln.Addr().String()
}

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

// grpcClient dials srv with TLS (certificate not verified) and authority
// host.
func grpcClient(tb testing.TB, srv *httptest.Server, host string) *grpc.ClientConn {
	tb.Helper()
	creds := credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})
	cc, err := grpc.NewClient(srv.Listener.Addr().String(), grpc.WithTransportCredentials(creds), grpc.WithAuthority(host))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
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
// trailer and the Host kept, an error status relayed, and a bidirectional
// stream; for GRPC (clear text to the server) and GRPCS.
func TestGRPC(t *testing.T) {
	ca := certstest.NewCA(t)
	for _, tc := range []struct {
		proto annotations.Protocol
		ca    *certstest.CA
	}{{annotations.ProtocolGRPC, nil}, {annotations.ProtocolGRPCS, ca}} {
		t.Run(string(tc.proto), func(t *testing.T) {
			srv := tlsFront(t, grpcRoute(t, tc.proto, grpcBackend(t, tc.ca)))
			cc := grpcClient(t, srv, "grpc.test")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			out := new(wrapperspb.StringValue)
			var trailer metadata.MD
			if err := cc.Invoke(ctx, "/weir.test.Echo/Unary", wrapperspb.String("hi"), out, grpc.Trailer(&trailer)); err != nil {
				t.Fatalf("unary: %v", err)
			}
			if out.Value != "echo hi host grpc.test" {
				t.Errorf("unary answer %q, want \"echo hi host grpc.test\"", out.Value)
			}
			if got := trailer.Get("x-unary-trailer"); len(got) != 1 || got[0] != "t1" {
				t.Errorf("unary trailer %v, want [t1]", got)
			}

			err := cc.Invoke(ctx, "/weir.test.Echo/Unary", wrapperspb.String("missing"), out)
			if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing" {
				t.Errorf("error status %v, want NotFound \"no such thing\"", err)
			}

			stream, err := cc.NewStream(ctx, &echoService.Streams[0], "/weir.test.Echo/Bidi")
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			// One message at a time: each answer comes before the next is
			// sent, so the stream is really bidirectional through Weir.
			for _, m := range []string{"a", "b", "c"} {
				if err := stream.SendMsg(wrapperspb.String(m)); err != nil {
					t.Fatalf("send %s: %v", m, err)
				}
				in := new(wrapperspb.StringValue)
				if err := stream.RecvMsg(in); err != nil || in.Value != "re "+m {
					t.Fatalf("receive after %s: %q %v", m, in.Value, err)
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if err := stream.RecvMsg(new(wrapperspb.StringValue)); !errors.Is(err, io.EOF) {
				t.Fatalf("end of stream: %v, want EOF", err)
			}
			if got := stream.Trailer().Get("x-stream-trailer"); len(got) != 1 || got[0] != "done" {
				t.Errorf("stream trailer %v, want [done]", got)
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
	err := grpcClient(t, srv, "grpc.test").Invoke(ctx, "/weir.test.Echo/Unary", wrapperspb.String("hi"), new(wrapperspb.StringValue))
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
}

// TestBackendProtocolH2C: an H2C route speaks HTTP/2 with prior knowledge
// to its endpoint, for an HTTP/1.1 client too.
func TestBackendProtocolH2C(t *testing.T) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-T")
		w.Write([]byte(r.Proto + " " + r.Host))
		w.Header().Set("X-T", "v")
	}))
	up.Config.Protocols = &protos
	up.Start()
	t.Cleanup(up.Close)
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
