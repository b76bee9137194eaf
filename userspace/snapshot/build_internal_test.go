package snapshot

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
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
			sp := &corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}
			got := (&builder{}).endpoints([]*discoveryv1.EndpointSlice{es}, sp, corev1.ProtocolTCP)
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

// TestCompareCerts: compareCerts orders as the "namespace/name" strings do,
// namespaces that are prefixes of others included.
func TestCompareCerts(t *testing.T) {
	t.Parallel()
	refs := []ObjectRef{{Namespace: "a", Name: "x"}, {Namespace: "a-b", Name: "x"}, {Namespace: "a", Name: "b/c"}, {Namespace: "a", Name: ""},
		{Namespace: "", Name: "a"}, {Namespace: "a/b", Name: "c"}, {Namespace: "a0", Name: "a"}, {Namespace: "a", Name: "x-y"}, {Namespace: "ab", Name: ""}}
	for _, x := range refs {
		for _, y := range refs {
			want := strings.Compare(x.Namespace+"/"+x.Name, y.Namespace+"/"+y.Name)
			if got := compareCerts(&Certificate{Secret: x}, &Certificate{Secret: y}); got != want {
				t.Errorf("compareCerts(%v, %v) = %d, want %d", x, y, got, want)
			}
		}
	}
}
