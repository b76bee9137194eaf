// Package grpcecho is a gRPC service for tests, without generated code:
// Unary echoes a StringValue with the request's authority (and fails with
// NotFound for "missing"), Bidi echoes each message of its stream and ends
// with a trailer.
package grpcecho

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Method names, for ClientConn.Invoke and NewStream.
const (
	Unary = "/weir.test.Echo/Unary"
	Bidi  = "/weir.test.Echo/Bidi"
)

// Service is the echo service.
var Service = grpc.ServiceDesc{
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

// Start serves the echo service on 127.0.0.1, over TLS with cert when it
// is not nil, and returns its address; the test stops it.
func Start(tb testing.TB, cert *tls.Certificate) string {
	tb.Helper()
	var opts []grpc.ServerOption
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(cert)))
	}
	s := grpc.NewServer(opts...)
	s.RegisterService(&Service, struct{}{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go s.Serve(ln)
	tb.Cleanup(s.Stop)
	return ln.Addr().String()
}

// Dial returns a client of addr over TLS (the certificate not verified)
// with authority host; the test closes it.
func Dial(tb testing.TB, addr, host string) *grpc.ClientConn {
	tb.Helper()
	creds := credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithAuthority(host))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// DialClearText returns a client of addr in clear text (HTTP/2 with prior
// knowledge) with authority host; the test closes it.
func DialClearText(tb testing.TB, addr, host string) *grpc.ClientConn {
	tb.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority(host))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// Exercise runs, on cc, a unary call (checking its answer for host and its
// trailer), a call failing with NotFound, and a bidirectional stream of
// three messages each answered before the next is sent; it reports the
// first difference.
func Exercise(ctx context.Context, cc *grpc.ClientConn, host string) error {
	out := new(wrapperspb.StringValue)
	var trailer metadata.MD
	if err := cc.Invoke(ctx, Unary, wrapperspb.String("hi"), out, grpc.Trailer(&trailer)); err != nil {
		return fmt.Errorf("unary: %w", err)
	}
	if want := "echo hi host " + host; out.Value != want {
		return fmt.Errorf("unary answer %q, want %q", out.Value, want)
	}
	if got := trailer.Get("x-unary-trailer"); len(got) != 1 || got[0] != "t1" {
		return fmt.Errorf("unary trailer %v, want [t1]", got)
	}
	err := cc.Invoke(ctx, Unary, wrapperspb.String("missing"), out)
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing" {
		return fmt.Errorf("error status %v, want NotFound \"no such thing\"", err)
	}
	stream, err := cc.NewStream(ctx, &Service.Streams[0], Bidi)
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	for _, m := range []string{"a", "b", "c"} {
		if err := stream.SendMsg(wrapperspb.String(m)); err != nil {
			return fmt.Errorf("send %s: %w", m, err)
		}
		in := new(wrapperspb.StringValue)
		if err := stream.RecvMsg(in); err != nil || in.Value != "re "+m {
			return fmt.Errorf("receive after %s: %q %v", m, in.Value, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	if err := stream.RecvMsg(new(wrapperspb.StringValue)); !errors.Is(err, io.EOF) {
		return fmt.Errorf("end of stream: %v, want EOF", err)
	}
	if got := stream.Trailer().Get("x-stream-trailer"); len(got) != 1 || got[0] != "done" {
		return fmt.Errorf("stream trailer %v, want [done]", got)
	}
	return nil
}
