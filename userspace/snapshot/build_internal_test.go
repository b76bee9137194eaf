package snapshot

import (
	"net"
	"net/netip"
	"strconv"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// endpoints formats with netip.AddrPort to save allocations; it must give
// what net.JoinHostPort gives on the parsed address.
func TestEndpointsFormatLikeJoinHostPort(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"10.0.0.1", "fd00::1", "::ffff:10.0.0.1", "fe80::1%eth0", "2001:db8:0:0::1", "0.0.0.0", "::"} {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			name, port := "http", int32(8080)
			es := &discoveryv1.EndpointSlice{
				Ports:     []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{addr}}},
			}
			got := (&builder{}).endpoints([]*discoveryv1.EndpointSlice{es}, "http")
			want := net.JoinHostPort(mustParse(t, addr), strconv.Itoa(int(port)))
			if len(got) != 1 || got[0] != want {
				t.Errorf("endpoints(%s) = %q, want [%q]", addr, got, want)
			}
		})
	}
}

func mustParse(t *testing.T, addr string) string {
	t.Helper()
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ip.String()
}
