package kubeapi

import (
	"context"
	"net"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStartRetriesATakenPort: a port taken between its pick and etcd's
// bind (by a test binary running beside this one) costs a second try, not
// the test.
func TestStartRetriesATakenPort(t *testing.T) {
	tries := 0
	testHookEtcdPort = func(port int) {
		tries++
		if tries > 1 {
			return
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("take port %d: %v", port, err)
		}
		t.Cleanup(func() { ln.Close() })
	}
	t.Cleanup(func() { testHookEtcdPort = nil })
	s := Start(t)
	if tries != 2 {
		t.Fatalf("etcd started %d times; want 2 (the first port taken)", tries)
	}
	if _, err := s.Client().CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("get namespace default: %v", err)
	}
}
