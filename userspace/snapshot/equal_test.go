package snapshot_test

import (
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestServerEqual(t *testing.T) {
	mk := func() snapshot.Server {
		return snapshot.Server{Host: "a.example", Paths: []snapshot.Path{{
			Path: "/", Match: snapshot.MatchPrefix,
			Backend: snapshot.Backend{Service: "s", Port: "80", Endpoints: []string{"198.18.0.1:80"},
				Proxy: annotations.DefaultProxy()},
			Canaries: []snapshot.Canary{{Header: "x-canary", Weight: 10, WeightTotal: 100}},
		}}}
	}
	a, b := mk(), mk()
	if !a.Equal(&b) {
		t.Fatal("equal servers built apart: Equal says false")
	}
	shared := a // shares a's Paths
	if !a.Equal(&shared) {
		t.Fatal("server sharing Paths: Equal says false")
	}
	changes := map[string]func(s *snapshot.Server){
		"host":         func(s *snapshot.Server) { s.Host = "b.example" },
		"regex":        func(s *snapshot.Server) { s.UseRegex = true },
		"no paths":     func(s *snapshot.Server) { s.Paths = nil },
		"endpoint":     func(s *snapshot.Server) { s.Paths[0].Backend.Endpoints[0] = "198.18.0.2:80" },
		"proxy":        func(s *snapshot.Server) { s.Paths[0].Backend.Proxy.ReadTimeoutSeconds = 120 },
		"source range": func(s *snapshot.Server) { s.Paths[0].Backend.Proxy.SourceRange = &annotations.SourceRange{} },
		"canary":       func(s *snapshot.Server) { s.Paths[0].Canaries[0].Weight = 20 },
		"hsts":         func(s *snapshot.Server) { s.Paths[0].Backend.HSTS = "max-age=1" },
	}
	for name, change := range changes {
		c := mk()
		change(&c)
		if a.Equal(&c) || c.Equal(&a) {
			t.Errorf("%s changed: Equal says true", name)
		}
	}
}
