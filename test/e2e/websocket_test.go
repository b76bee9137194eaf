package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weir-lb/weir/userspace/nginxmetrics"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// wsEchoBackend is a real WebSocket server on 127.0.0.1 that echoes every
// message.
func wsEchoBackend(t testing.TB, name string) *backend {
	t.Helper()
	return newBackend(t, name, echoWebSocket)
}

// echoWebSocket accepts a WebSocket and echoes every message until the
// connection ends.
func echoWebSocket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// wsClient is a WebSocket client through Weir whose messages are read by
// one goroutine, so that pings (answered by pongs the reader handles) and
// echoes can be mixed.
type wsClient struct {
	t    testing.TB
	c    *websocket.Conn
	msgs chan string
	errc chan error // the reader's final error, with when it happened
	done chan time.Time
}

func (w *weir) dialWS(host, path string) *wsClient {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(w.base, "http") + path
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Host: host})
	if err != nil {
		w.t.Fatalf("dial %s%s: %v", host, path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		w.t.Fatalf("dial %s%s: status %d", host, path, resp.StatusCode)
	}
	ws := &wsClient{t: w.t, c: c, msgs: make(chan string, 16), errc: make(chan error, 1), done: make(chan time.Time, 1)}
	go ws.readLoop()
	w.t.Cleanup(func() {
		c.CloseNow()
		select {
		case <-ws.errc:
		case <-time.After(5 * time.Second):
			w.t.Errorf("websocket reader did not stop")
		}
	})
	return ws
}

// readLoop reads messages until the connection fails; it reports the error
// and the time it came.
func (ws *wsClient) readLoop() {
	for {
		_, msg, err := ws.c.Read(context.Background())
		if err != nil {
			ws.done <- time.Now()
			ws.errc <- err
			return
		}
		ws.msgs <- string(msg)
	}
}

// echo sends msg and waits up to 5 s for it to come back.
func (ws *wsClient) echo(msg string) {
	ws.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		ws.t.Fatalf("write %q: %v", msg, err)
	}
	select {
	case got := <-ws.msgs:
		if got != msg {
			ws.t.Fatalf("echo of %q: got %q", msg, got)
		}
	case at := <-ws.done:
		ws.t.Fatalf("echo of %q: connection closed at %v", msg, at.Format(time.StampMilli))
	case <-ctx.Done():
		ws.t.Fatalf("echo of %q: no answer within 5s", msg)
	}
}

// closedWithin waits up to d for the connection to be closed by Weir and
// returns when it was.
func (ws *wsClient) closedWithin(d time.Duration) time.Time {
	ws.t.Helper()
	select {
	case at := <-ws.done:
		return at
	case msg := <-ws.msgs:
		ws.t.Fatalf("unexpected message %q", msg)
	case <-time.After(d):
		ws.t.Fatalf("connection still open after %v", d)
	}
	return time.Time{}
}

// stillOpen fails if the connection closed during d.
func (ws *wsClient) stillOpen(d time.Duration) {
	ws.t.Helper()
	select {
	case at := <-ws.done:
		ws.t.Fatalf("connection closed at %v, want it open", at.Format(time.StampMilli))
	case msg := <-ws.msgs:
		ws.t.Fatalf("unexpected message %q", msg)
	case <-time.After(d): // the idle period under test, not synchronisation
	}
}

// metric returns the value of the sample line that starts with name (with
// its labels) in Weir's /metrics, -1 when absent.
func (w *weir) metric(name string) float64 {
	w.t.Helper()
	resp, err := client.Get("http://" + w.d.MetricsAddr() + "/metrics")
	if err != nil {
		w.t.Fatalf("get /metrics: %v", err)
	}
	body := readAll(w.t, resp)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		w.t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

func closesMetric(reason string) string {
	return `weir_websocket_tunnel_closes_total{reason="` + reason + `"}`
}

// TestWebSocketEcho echoes through Weir with no annotation, and counts the
// tunnel and its close in /metrics and the access log.
func TestWebSocketEcho(t *testing.T) {
	t.Parallel()
	b := wsEchoBackend(t, "ws")
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("ws", b.port) + ingress("ws", "ws.test", "ws"),
	})
	ws := w.dialWS("ws.test", "/socket")
	for i := range 10 {
		ws.echo(fmt.Sprintf("message %d", i))
	}
	if r := b.last(); r.Header.Get("X-Forwarded-For") != "127.0.0.1" || len(r.Header.Get("X-Request-ID")) != 32 {
		t.Errorf("backend got X-Forwarded-For %q, X-Request-ID %q", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Request-ID"))
	}
	if got := w.metric("weir_websocket_tunnels_open"); got != 1 {
		t.Errorf("weir_websocket_tunnels_open = %v, want 1", got)
	}
	if err := ws.c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("close: %v", err)
	}
	waitFor(t, 5*time.Second, "the close counted", func() bool {
		return w.metric(closesMetric("client"))+w.metric(closesMetric("backend")) == 1
	})
	if got := w.metric("weir_websocket_tunnels_open"); got != 0 {
		t.Errorf("weir_websocket_tunnels_open = %v after the close, want 0", got)
	}
	waitFor(t, 5*time.Second, "the access-log line", func() bool {
		return strings.Contains(w.access.String(), `"status":101`)
	})
	id := nginxmetrics.IdentityFromEnv(snapshot.DefaultOptions().ControllerClass)
	series := fmt.Sprintf(`nginx_ingress_controller_requests{canary="",controller_class=%q,controller_namespace=%q,controller_pod=%q,host="ws.test",ingress="ws",method="GET",namespace="default",path="/",service="ws",status="101"}`,
		id.Class, id.Namespace, id.Pod)
	if got := w.metric(series); got != 1 {
		t.Errorf("requests with status 101 = %v, want 1", got)
	}
}

// TestWebSocketReadTimeout: with proxy-read-timeout 3, a tunnel idle 2 s
// survives; one idle past 3 s is closed within 1 s of the deadline and
// counted as read_timeout.
func TestWebSocketReadTimeout(t *testing.T) {
	t.Parallel()
	b := wsEchoBackend(t, "ws")
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("ws", b.port) + ingress("ws", "ws.test", "ws", "proxy-read-timeout", "3"),
	})
	ws := w.dialWS("ws.test", "/")
	ws.echo("hello")
	ws.stillOpen(2 * time.Second)
	// The last traffic starts no earlier than this write.
	last := time.Now()
	ws.echo("after 2s idle")
	at := ws.closedWithin(10 * time.Second)
	idle := at.Sub(last)
	if idle < 3*time.Second || idle > 4500*time.Millisecond {
		t.Errorf("closed %v after the last traffic, want 3s to 4.5s", idle)
	}
	t.Logf("closed %v after the last traffic (proxy-read-timeout 3)", idle.Round(time.Millisecond))
	waitFor(t, 5*time.Second, "read_timeout counted", func() bool {
		return w.metric(closesMetric("read_timeout")) == 1
	})
}

// TestWebSocketPingsKeepAlive: client pings every second keep a
// proxy-read-timeout 3 tunnel open for 5 s.
func TestWebSocketPingsKeepAlive(t *testing.T) {
	t.Parallel()
	b := wsEchoBackend(t, "ws")
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("ws", b.port) + ingress("ws", "ws.test", "ws", "proxy-read-timeout", "3"),
	})
	ws := w.dialWS("ws.test", "/")
	ws.echo("hello")
	start := time.Now()
	for i := 0; time.Since(start) < 5*time.Second; i++ {
		ws.stillOpen(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := ws.c.Ping(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ping %d after %v: %v", i, time.Since(start).Round(time.Millisecond), err)
		}
	}
	ws.echo("after 5s of pings")
	if got := w.metric(closesMetric("read_timeout")); got != 0 {
		t.Errorf("read_timeout closes = %v, want 0", got)
	}
}

// TestWebSocketDefaultTimeout: with no annotation (60 s) a tunnel survives
// 5 s idle.
func TestWebSocketDefaultTimeout(t *testing.T) {
	t.Parallel()
	b := wsEchoBackend(t, "ws")
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("ws", b.port) + ingress("ws", "ws.test", "ws"),
	})
	ws := w.dialWS("ws.test", "/")
	ws.echo("hello")
	ws.stillOpen(5 * time.Second)
	ws.echo("after 5s idle")
}

// TestWebSocketSurvivesConfigChanges keeps one tunnel open across 20 folder
// edits, one of which removes its route, and echoes after each.
func TestWebSocketSurvivesConfigChanges(t *testing.T) {
	t.Parallel()
	b := wsEchoBackend(t, "ws")
	other := newBackend(t, "other", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("ws", b.port) + service("other", other.port),
		"app.yaml":   ingress("ws", "ws.test", "ws"),
	})
	ws := w.dialWS("ws.test", "/")
	ws.echo("before")
	for i := range 20 {
		var what string
		switch {
		case i == 10:
			what = "route removed"
			w.update("app.yaml", ingress("ws", "elsewhere.test", "other"))
			if got := w.get("ws.test", "/"); got.status != http.StatusNotFound {
				t.Fatalf("ws.test after its route is removed: %d, want 404", got.status)
			}
		case i%2 == 0:
			what = "route changed"
			w.update("app.yaml", ingress("ws", "ws.test", "ws", "proxy-read-timeout", strconv.Itoa(100+i)))
		default:
			what = "other object changed"
			w.update("other.yaml", ingress("other", fmt.Sprintf("o%d.test", i), "other"))
		}
		ws.echo(fmt.Sprintf("after change %d (%s)", i+1, what))
	}
	if got := w.metric("weir_websocket_tunnels_open"); got != 1 {
		t.Errorf("weir_websocket_tunnels_open = %v, want 1", got)
	}
	for _, reason := range []string{"client", "backend", "read_timeout", "send_timeout"} {
		if got := w.metric(closesMetric(reason)); got != 0 {
			t.Errorf("%s = %v, want 0", closesMetric(reason), got)
		}
	}
}

// TestUpgradeWithoutConnectionToken: a client that sends Upgrade without
// "upgrade" in Connection is forwarded as an upgrade (Upgrade and
// Connection: upgrade, as nginx.tmpl's $connection_upgrade map reads
// $http_upgrade alone) and, once the backend answers 101, tunnelled both
// ways, as nginx does (checked against nginx 1.22: it tunnels after a 101
// whenever the request had an Upgrade header).
func TestUpgradeWithoutConnectionToken(t *testing.T) {
	t.Parallel()
	b := newBackend(t, "rawup", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
			http.Error(w, "not an upgrade: Upgrade "+r.Header.Get("Upgrade")+", Connection "+r.Header.Get("Connection"), http.StatusBadRequest)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, err := brw.ReadString('\n')
		if err == nil {
			io.WriteString(c, "echo "+line)
		}
	})
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("rawup", b.port) + ingress("rawup", "rawup.test", "rawup"),
	})
	for _, conn := range []string{"", "Connection: keep-alive\r\n"} {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(w.base, "http://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /x HTTP/1.1\r\nHost: rawup.test\r\n"+conn+"Upgrade: echo\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: read the response: %v", conn, err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("%q: status %d %q, want 101", conn, resp.StatusCode, body)
		}
		io.WriteString(c, "hello through the tunnel\n")
		if line, err := br.ReadString('\n'); err != nil || line != "echo hello through the tunnel\n" {
			t.Errorf("%q: tunnel answered %q, %v; want the echo", conn, line, err)
		}
	}
}
