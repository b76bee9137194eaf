//go:build h2survey

package e2e

// The survey behind hostile_h2_test.go's comments, run by hand against an
// nginx configured as ingress-nginx configures it (README's hostile-input
// section): `WEIR_H2_NGINX=127.0.0.1:PORT go test -tags h2survey -run
// TestHostileH2Nginx -v ./test/e2e`. It is behind a build tag so that a
// run without an nginx has no test to skip.

import (
	"os"
	"testing"
	"time"
)

// nginxH2 is the nginx named by WEIR_H2_NGINX, or skips.
func nginxH2(t *testing.T) h2Target {
	addr := os.Getenv("WEIR_H2_NGINX")
	if addr == "" {
		t.Skip("WEIR_H2_NGINX unset: no nginx to compare with")
	}
	return h2Target{addr: addr, sni: "h2.test"}
}

// TestHostileH2Nginx surveys the nginx named by WEIR_H2_NGINX, and Weir
// the same way, for the comments of hostile_h2_test.go's tests.
func TestHostileH2Nginx(t *testing.T) {
	ng := nginxH2(t)
	t.Run("nginx", func(t *testing.T) {
		tlsSurvey(t, ng)
		h2Survey(t, ng, 10*time.Second)
	})
	t.Run("weir", func(t *testing.T) {
		tg := weirH2(t)
		tlsSurvey(t, tg)
		h2Survey(t, tg, 10*time.Second)
	})
}
