package cluster

import (
	"io"
	"net/http"
	"strconv"
	"testing"
)

// TestNetNSBackend checks the harness itself: a backend inside the test's
// network namespace answers from the host over the veth pair.
func TestNetNSBackend(t *testing.T) {
	n := newNetNS(t)
	b := n.backend(t, "ns")
	resp, err := http.Get("http://" + b.ip + ":" + strconv.Itoa(b.port) + "/hello")
	if err != nil {
		t.Fatalf("get backend in namespace: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "ns /hello" {
		t.Errorf("body = %q, want %q", body, "ns /hello")
	}
}
