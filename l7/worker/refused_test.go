package worker_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/l7/worker"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// A configuration the worker refuses (its router does not compile) keeps
// the live one, as the ack says: its certificates too. apply installs the
// refused Snapshot's certificates before compiling the router, so after the
// refusal the worker routes version 1 but serves version 2's certificates
// (here: none for one.test, so the fallback).
func TestRefusedDeltaKeepsLiveCertificates(t *testing.T) {
	t.Parallel()
	sup, ctl := net.Pipe()
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Config{CPU: -1, Control: ctl, HTTP: httpLn, HTTPS: httpsLn,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	t.Cleanup(func() {
		cancel()
		sup.Close()
		<-done
		httpLn.Close()
		httpsLn.Close()
	})
	e := &supervisorEnd{t: t, conn: sup, r: bufio.NewReader(sup)}

	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "one.test")
	v1 := testSnapshot(1, "127.0.0.1:1", "one.test")
	v1.Certificates = []snapshot.Certificate{{
		Secret: snapshot.ObjectRef{Kind: "Secret", Namespace: "default", Name: "one"},
		Hosts:  []string{"one.test"}, CertPEM: crt, KeyPEM: key,
	}}
	if ack := e.send(worker.MsgSnapshot, v1); ack.Version != 1 || ack.Error != "" {
		t.Fatalf("snapshot 1: ack %+v", ack)
	}
	served := func() []string {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", httpsLn.Addr().String(),
			&tls.Config{ServerName: "one.test", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].DNSNames
	}
	if got := served(); len(got) != 1 || got[0] != "one.test" {
		t.Fatalf("one.test with version 1 live: certificate for %v", got)
	}

	// Version 2 drops the certificate and adds a Server whose regex does
	// not compile: refused.
	v2 := testSnapshot(2, "127.0.0.1:1", "one.test")
	v2.Hash = "hash-2"
	v2.Servers = append(v2.Servers, snapshot.Server{Host: "bad.test", UseRegex: true,
		Paths: []snapshot.Path{{Path: "(", Match: snapshot.MatchPrefix, Backend: v1.Servers[0].Paths[0].Backend}}})
	ack := e.send(worker.MsgDelta, snapshot.Diff(v1, v2))
	if ack.Version != 1 || ack.Error == "" {
		t.Fatalf("delta 1->2 with a bad regex: ack %+v, want version 1 refused", ack)
	}
	if got := served(); len(got) != 1 || got[0] != "one.test" {
		t.Errorf("one.test with version 1 still live after refusing version 2: certificate for %v, want one.test's", got)
	}
}
