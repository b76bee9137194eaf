package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/daemon"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// tcpServer serves handle on 127.0.0.1 until the test ends and returns its
// port.
func tcpServer(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	addr, _ := testutil.TCPServer(t, handle)
	return portOf(t, addr)
}

// udpEchoServer answers each datagram with "echo:" and the datagram, until
// the test ends, and returns its port.
func udpEchoServer(t *testing.T) int {
	t.Helper()
	return portOf(t, testutil.UDPEchoServer(t, true))
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	if err != nil || n == 0 {
		t.Fatalf("port of %q: %v", addr, err)
	}
	return n
}

// lineEcho echoes line by line, and half-closes at the client's end of
// input.
func lineEcho(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
}

// streamService is a Service with a TCP port "tcp" (9000) and a UDP port
// "dns" (53), and its EndpointSlice on 127.0.0.1.
func streamService(name string, tcpPort, udpPort int) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: default}
spec:
  ports:
  - {name: tcp, port: 9000, targetPort: 9000}
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-1
  namespace: default
  labels: {kubernetes.io/service-name: %[1]s}
addressType: IPv4
ports:
- {name: tcp, port: %[2]d, protocol: TCP}
- {name: dns, port: %[3]d, protocol: UDP}
endpoints:
- addresses: [127.0.0.1]
`, name, tcpPort, udpPort)
}

// servicesConfigMap renders a ConfigMap in namespace ingress with data.
func servicesConfigMap(name string, data map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: ingress}\ndata:\n", name)
	for k, v := range data {
		fmt.Fprintf(&b, "  %q: %q\n", k, v)
	}
	return b.String()
}

func streamOptions() snapshot.Options {
	opts := configMapOptions()
	opts.TCPServices, opts.UDPServices = "ingress/tcp-services", "ingress/udp-services"
	return opts
}

// startStreams is startWeirWith(files, streamOptions()), returning once
// every publisher, the stream ports' included, has the first configuration
// (the proxy's version goes live first).
func startStreams(t *testing.T, files map[string]string) *weir {
	t.Helper()
	w := startWeirWith(t, files, streamOptions())
	w.waitPublished()
	return w
}

// updateStreams is update, returning once every publisher has the new
// configuration.
func (w *weir) updateStreams(name, body string) {
	w.t.Helper()
	w.update(name, body)
	w.waitPublished()
}

// waitPublished waits until the configuration the proxy serves went
// through every publisher (the controller's live Snapshot).
func (w *weir) waitPublished() {
	w.t.Helper()
	v := w.d.LiveVersion()
	waitFor(w.t, 10*time.Second, fmt.Sprintf("config version %d published", v), func() bool {
		s := w.d.Live()
		return s != nil && s.Version >= v
	})
}

// dialStream connects to a stream port of Weir on 127.0.0.1.
func dialStream(t *testing.T, port int) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Fatalf("dial stream port %d: %v", port, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

// checkTCPEcho sends hello on port, half-closes, and wants the upstream's
// answer, which it sends only at the end of input: both directions and
// the half-close pass through Weir.
func checkTCPEcho(t *testing.T, port int) {
	t.Helper()
	c := dialStream(t, port)
	io.WriteString(c, "hello")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(c); err != nil || string(got) != "got:hello" {
		t.Fatalf("tcp stream port %d: read %q, %v; want %q", port, got, err, "got:hello")
	}
}

func answerAtEOF(c net.Conn) {
	data, _ := io.ReadAll(c)
	c.Write(append([]byte("got:"), data...))
}

// checkUDPEcho sends three datagrams from one client socket and wants each
// answered.
func checkUDPEcho(t *testing.T, port int) {
	t.Helper()
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for i := range 3 {
		msg := fmt.Sprintf("query%d", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "echo:"+msg {
			t.Fatalf("udp stream port %d: answer to %q: %q, %v", port, msg, buf[:n], err)
		}
	}
}

// TestStreamsTCPAndUDP: the TCP and UDP services ConfigMaps forward ports
// to Services; invalid entries are warned about and skipped, the others
// served.
func TestStreamsTCPAndUDP(t *testing.T) {
	tcpPort, udpPort := closedPort(t), closedPort(t)
	w := startStreams(t, map[string]string{
		"svc.yaml": streamService("echo", tcpServer(t, answerAtEOF), udpEchoServer(t)),
		"tcp.yaml": servicesConfigMap("tcp-services", map[string]string{
			strconv.Itoa(tcpPort): "default/echo:9000",
			"ssh":                 "default/echo:9000",
			"2222":                "default/echo",
		}),
		"udp.yaml": servicesConfigMap("udp-services", map[string]string{strconv.Itoa(udpPort): "default/echo:dns"}),
	})
	checkTCPEcho(t, tcpPort)
	checkUDPEcho(t, udpPort)
	// Each session is one line of ingress-nginx's default log_stream format
	// in the access log when it ends: "hello" in, "got:hello" out.
	waitFor(t, 5*time.Second, "the sessions' access-log lines", func() bool {
		return strings.Contains(w.access.String(), "] TCP 200 9 5 ") && strings.Count(w.access.String(), "] UDP 200 ") == 3
	})
	var warned []string
	for _, wn := range w.d.Live().Warnings {
		if wn.Reason == snapshot.ReasonInvalidStream {
			warned = append(warned, wn.Message)
		}
	}
	if len(warned) != 2 || !strings.Contains(strings.Join(warned, "\n"), `"ssh" is not a valid TCP port number`) {
		t.Errorf("InvalidStream warnings %q, want the two invalid entries", warned)
	}
	// A missing Service keeps its port listening; connections close.
	missing := closedPort(t)
	w.updateStreams("tcp.yaml", servicesConfigMap("tcp-services", map[string]string{
		strconv.Itoa(tcpPort): "default/echo:9000",
		strconv.Itoa(missing): "default/nope:9000",
	}))
	if got, err := io.ReadAll(dialStream(t, missing)); err != nil || len(got) != 0 {
		t.Errorf("port of a missing service: read %q, %v; want the connection closed", got, err)
	}
	waitFor(t, 5*time.Second, "the 502 access-log line", func() bool { return strings.Contains(w.access.String(), "] TCP 502 0 0 ") })
	checkTCPEcho(t, tcpPort)
}

// TestStreamsLiveEdit: an edit of the ConfigMap that removes a port and
// adds another leaves an established stream on the removed port working.
func TestStreamsLiveEdit(t *testing.T) {
	echoPort := tcpServer(t, lineEcho)
	p1, p2 := closedPort(t), closedPort(t)
	w := startStreams(t, map[string]string{
		"svc.yaml": streamService("echo", echoPort, 1),
		"tcp.yaml": servicesConfigMap("tcp-services", map[string]string{strconv.Itoa(p1): "default/echo:tcp"}),
	})
	roundTrip, _ := lineStream(t, p1)
	roundTrip("before")
	w.updateStreams("tcp.yaml", servicesConfigMap("tcp-services", map[string]string{strconv.Itoa(p2): "default/echo:tcp"}))
	roundTrip("after the edit")
	if nc, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p1), time.Second); err == nil {
		nc.Close()
		t.Errorf("removed port %d still accepts", p1)
	}
	c2 := dialStream(t, p2)
	io.WriteString(c2, "new\n")
	if got, err := bufio.NewReader(c2).ReadString('\n'); err != nil || got != "new\n" {
		t.Fatalf("added port: %q, %v", got, err)
	}
	roundTrip("still")
}

// lineStream connects to port, behind which lineEcho answers: roundTrip
// sends a line and wants it back.
func lineStream(t *testing.T, port int) (roundTrip func(msg string), rd *bufio.Reader) {
	c := dialStream(t, port)
	rd = bufio.NewReader(c)
	return func(msg string) {
		t.Helper()
		io.WriteString(c, msg+"\n")
		if got, err := rd.ReadString('\n'); err != nil || got != msg+"\n" {
			t.Fatalf("established stream: echo of %q: %q, %v", msg, got, err)
		}
	}, rd
}

// TestStreamsProxyProtocol: "ns/svc:port:PROXY:PROXY" reads the client's
// PROXY header and sends one upstream; with enable-real-ip the client
// address is the header's (ingress-nginx's e2e "should enable PROXY
// Protocol for TCP").
func TestStreamsProxyProtocol(t *testing.T) {
	headerPort := tcpServer(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, line)
	})
	port := closedPort(t)
	startStreams(t, map[string]string{
		"svc.yaml": streamService("hdr", headerPort, 1),
		"tcp.yaml": servicesConfigMap("tcp-services", map[string]string{strconv.Itoa(port): "default/hdr:9000:PROXY:PROXY"}),
		"cm.yaml":  configMap("enable-real-ip", "true"),
	})
	c := dialStream(t, port)
	io.WriteString(c, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 8080\r\nGET / HTTP/1.1\r\nHost: proxy-protocol\r\n\r\n")
	got, err := bufio.NewReader(c).ReadString('\n')
	want := fmt.Sprintf("PROXY TCP4 192.168.0.1 127.0.0.1 56324 %d\r\n", port)
	if err != nil || got != want {
		t.Fatalf("upstream got header %q, %v; want %q", got, err, want)
	}
}

// TestStreamsSupervisor: with worker processes, the supervisor serves the
// stream ports.
func TestStreamsSupervisor(t *testing.T) {
	tcpPort, udpPort := closedPort(t), closedPort(t)
	startWeirProcess(t, "1", map[string]string{
		"svc.yaml": streamService("echo", tcpServer(t, answerAtEOF), udpEchoServer(t)),
		"tcp.yaml": servicesConfigMap("tcp-services", map[string]string{strconv.Itoa(tcpPort): "default/echo:9000"}),
		"udp.yaml": servicesConfigMap("udp-services", map[string]string{strconv.Itoa(udpPort): "default/echo:53"}),
	}, "--tcp-services-configmap", "ingress/tcp-services", "--udp-services-configmap", "ingress/udp-services")
	// The supervisor opens the stream ports once the workers have the
	// configuration.
	waitFor(t, 10*time.Second, "the stream ports open", func() bool {
		c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(udpPort))
		if err != nil {
			return false
		}
		defer c.Close()
		c.Write([]byte("probe"))
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = c.Read(make([]byte, 64))
		return err == nil
	})
	checkTCPEcho(t, tcpPort)
	checkUDPEcho(t, udpPort)
}

// TestStreamsDrainAtShutdown: at shutdown the stream ports stop accepting
// while an established stream goes on, until worker-shutdown-timeout closes
// it and Run returns.
func TestStreamsDrainAtShutdown(t *testing.T) {
	dir := t.TempDir()
	port := closedPort(t)
	for name, body := range map[string]string{
		"svc.yaml": streamService("echo", tcpServer(t, lineEcho), 1),
		"tcp.yaml": servicesConfigMap("tcp-services", map[string]string{strconv.Itoa(port): "default/echo:tcp"}),
		"cm.yaml":  configMap("worker-shutdown-timeout", "2s"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncBuffer{}
	d, err := daemon.New(daemon.Config{BindAddress: "127.0.0.1", MetricsAddress: "127.0.0.1", Manifests: dir,
		Controller: controller.Options{Build: streamOptions()}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- d.Run(ctx) }()
	defer func() {
		if t.Failed() {
			t.Logf("weir log:\n%s", logs.String())
		}
	}()
	waitFor(t, 10*time.Second, "the configuration published", func() bool { return d.Live() != nil })

	roundTrip, rd := lineStream(t, port)
	roundTrip("before")
	begin := time.Now()
	cancel()
	waitFor(t, 5*time.Second, "the stream port refusing", func() bool {
		nc, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	roundTrip("while draining")
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("weir stopped with: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("weir did not stop within 15s")
	}
	if took := time.Since(begin); took < 2*time.Second {
		t.Errorf("weir stopped %v after the signal, before worker-shutdown-timeout (2s) with a stream established", took)
	}
	if _, err := rd.ReadString('\n'); err == nil {
		t.Error("the stream outlived the drain")
	}
}
