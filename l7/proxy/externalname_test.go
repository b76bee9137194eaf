package proxy

import (
	"net"
	"net/http"
	"testing"
)

// TestEndpointByName: an endpoint that is a name and a port (an ExternalName
// Service's, userspace/snapshot) is dialled by name, resolved at the
// connection: "localhost" reaches the backend on 127.0.0.1 (the snapshot
// refuses localhost itself; the proxy takes any name it is given).
func TestEndpointByName(t *testing.T) {
	t.Parallel()
	b := backend(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("by name " + r.Host))
	})
	_, port, _ := net.SplitHostPort(addr(b))
	_, srv := front(t, Options{}, snap(1, "ext.test", backendOf("external", []string{net.JoinHostPort("localhost", port)})))
	r := get(t, client(t), srv, "ext.test", "/")
	if r.err != nil || r.status != http.StatusOK || r.body != "by name ext.test" {
		t.Errorf("got %d %q (%v), want 200 %q", r.status, r.body, r.err, "by name ext.test")
	}
}
