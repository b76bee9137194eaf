package cluster

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClusterStreams: in cluster mode the TCP services ConfigMap is watched
// like the controller's: its port is served, and an edit adding a port is
// live without a restart.
func TestClusterStreams(t *testing.T) {
	n := newNetNS(t)
	c := newCluster(t)
	c.service("default", "echo", n.backend(t, "echo"))
	p1, p2 := freeTCPPort(t), freeTCPPort(t)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "tcp-services"},
		Data: map[string]string{strconv.Itoa(p1): "default/echo:80"}}
	c.must(c.client.CoreV1().ConfigMaps("default").Create(c.ctx, cm, metav1.CreateOptions{}))

	c.startWeir(weirOptions{tcpServices: "default/tcp-services"})
	waitStream(t, p1)
	cm.Data[strconv.Itoa(p2)] = "default/echo:http"
	c.must(c.client.CoreV1().ConfigMaps("default").Update(c.ctx, cm, metav1.UpdateOptions{}))
	waitStream(t, p2)
}

// freeTCPPort returns a port nothing listens on at 127.0.0.1.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitStream waits until port forwards an HTTP request, byte for byte, to
// the backend "echo".
func waitStream(t *testing.T, port int) {
	t.Helper()
	waitFor(t, 20*time.Second, "stream port "+strconv.Itoa(port)+" forwarding", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: any\r\nConnection: close\r\n\r\n")
		got, _ := io.ReadAll(c)
		return strings.HasPrefix(string(got), "HTTP/1.1 200") && strings.HasSuffix(string(got), "echo /stream")
	})
}
