package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
)

// TestAnnotationsCommand checks that `weir annotations` prints every
// documented annotation with its status, and --configmap the ConfigMap's
// keys.
func TestAnnotationsCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
		rows int
	}{
		{[]string{"annotations"}, "| `nginx.ingress.kubernetes.io/configuration-snippet` | refused |", len(annotations.Inventory())},
		{[]string{"annotations", "--configmap"}, "| `allow-snippet-annotations` | partial |", len(annotations.ConfigMapInventory())},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), tc.args, &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("weir %s: %v", strings.Join(tc.args, " "), err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("weir %s lacks %q:\n%s", strings.Join(tc.args, " "), tc.want, out.String())
		}
		if got := strings.Count(out.String(), "\n"); got != 2+tc.rows {
			t.Errorf("weir %s printed %d lines, want %d", strings.Join(tc.args, " "), got, 2+tc.rows)
		}
	}
}
