package certs

import (
	"strings"
	"testing"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// A Snapshot from elsewhere (a worker decodes it from JSON) whose Digest is
// longer than 64 hex digits must not panic NewStore: hex.Decode writes past
// the 32-byte key. In a worker the panic kills the process, and the
// restarted worker gets the same Snapshot again.
func TestStoreOverlongDigest(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	c := cert(t, ca, "a", []string{"a.example.com"}, "a.example.com")
	c.Digest = strings.Repeat("ab", 40) // 80 hex digits
	fallback, err := SelfSigned(FallbackCommonName)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("NewStore with an 80-digit Digest panicked: %v", r)
		}
	}()
	st, errs := NewStore(&snapshot.Snapshot{Version: 1, Certificates: []snapshot.Certificate{c}}, fallback, nil)
	if len(errs) != 0 || cn(st.Select("a.example.com")) != "a.example.com" {
		t.Fatalf("NewStore with an 80-digit Digest: errors %v, serves %s", errs, cn(st.Select("a.example.com")))
	}
}
