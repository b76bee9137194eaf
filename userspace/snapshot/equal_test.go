package snapshot_test

import (
	"reflect"
	"strconv"
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
		"balance":      func(s *snapshot.Server) { s.Paths[0].Backend.Proxy.Balance = &annotations.Balance{Cookie: true} },
		"canary":       func(s *snapshot.Server) { s.Paths[0].Canaries[0].Weight = 20 },
	}
	for name, change := range changes {
		c := mk()
		change(&c)
		if a.Equal(&c) || c.Equal(&a) {
			t.Errorf("%s changed: Equal says true", name)
		}
	}
}

// fill sets every leaf under v (strings, numbers, bools) to a value derived
// from seed, allocating pointers and two-element slices on the way.
func fill(v reflect.Value, seed int) { fillIn(v, seed, false) }

// fillIn is fill; in is true inside a Backend's ErrorBackend, which is
// filled one level deep (it is a Backend).
func fillIn(v reflect.Value, seed int, in bool) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("v" + strconv.Itoa(seed))
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(seed + 1))
	case reflect.Uint16, reflect.Uint8:
		v.SetUint(uint64(seed + 1))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillIn(v.Elem(), seed, in)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillIn(v.Index(i), seed+i, in)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			name := v.Type().Field(i).Name
			if !(in && name == "ErrorBackend") {
				fillIn(v.Field(i), seed+i, in || name == "ErrorBackend")
			}
		}
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// mutate changes the n-th leaf under v (counting as fill walks) and returns
// a description of it, or "" when v has fewer than n+1 leaves. Slices count
// twice: once for their first element's leaves, once for being nil.
func mutate(v reflect.Value, n *int, path string) string {
	switch v.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint16, reflect.Uint8, reflect.Bool:
		if *n == 0 {
			switch v.Kind() {
			case reflect.String:
				v.SetString(v.String() + "x")
			case reflect.Uint16, reflect.Uint8:
				v.SetUint(v.Uint() + 100)
			case reflect.Bool:
				v.SetBool(!v.Bool())
			default:
				v.SetInt(v.Int() + 100)
			}
			return path
		}
		*n--
	case reflect.Pointer:
		if v.IsNil() {
			return "" // an ErrorBackend's own ErrorBackend, left nil by fill
		}
		if *n == 0 {
			v.SetZero()
			return path + " (nil)"
		}
		*n--
		return mutate(v.Elem(), n, path)
	case reflect.Slice:
		if *n == 0 {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return path + " (empty)"
		}
		*n--
		return mutate(v.Index(1), n, path+"[1]")
	case reflect.Struct:
		for i := range v.NumField() {
			if p := mutate(v.Field(i), n, path+"."+v.Type().Field(i).Name); p != "" {
				return p
			}
		}
	}
	return ""
}

func TestEqualCoversEveryField(t *testing.T) {
	t.Parallel()
	var a snapshot.Server
	fill(reflect.ValueOf(&a).Elem(), 0)
	leaves := 0
	for n := 0; ; n++ {
		var b snapshot.Server
		fill(reflect.ValueOf(&b).Elem(), 0)
		if !a.Equal(&b) {
			t.Fatal("two Servers filled alike are not Equal")
		}
		k := n
		what := mutate(reflect.ValueOf(&b).Elem(), &k, "Server")
		if what == "" {
			break
		}
		leaves++
		if a.Equal(&b) || b.Equal(&a) {
			t.Errorf("%s changed: Equal says true", what)
		}
	}
	if leaves < 30 {
		t.Fatalf("only %d fields mutated: the walk is broken", leaves)
	}
	t.Logf("%d fields and slices checked", leaves)
}
