package snapshot

import (
	"reflect"
	"testing"
)

// fill sets every field reachable from v to a non-zero value (slices get two
// elements, strings one that needs escaping when tricky is set), so that a
// field added to a Snapshot type shows up in the encoding comparison.
func fill(v reflect.Value, tricky bool, n *int) { fillIn(v, tricky, n, false) }

// fillIn is fill; in is true inside a Backend's ErrorBackend, which is
// filled one level deep (it is a Backend).
func fillIn(v reflect.Value, tricky bool, n *int, in bool) {
	*n++
	switch v.Kind() {
	case reflect.String:
		s := "v" + string(rune('a'+*n%26))
		if tricky {
			s += "<&>\"\\\u00e9\x01\u2028"
		}
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillIn(v.Elem(), tricky, n, in)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillIn(v.Index(i), tricky, n, in)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() && !(in && f.Name == "ErrorBackend") {
				fillIn(v.Field(i), tricky, n, in || f.Name == "ErrorBackend")
			}
		}
	}
}

func TestHashEncoderMatchesJSON(t *testing.T) {
	t.Parallel()
	full := func(tricky bool) *Snapshot {
		s := &Snapshot{}
		n := 0
		fill(reflect.ValueOf(s).Elem(), tricky, &n)
		return s
	}
	// The digests are the material's (hashOf trusts Digest, the reference
	// does not), or empty: computed.
	digests := func(s *Snapshot, set bool) *Snapshot {
		for _, c := range append(sliceOfPointers(s.Certificates), s.DefaultCertificate) {
			if c != nil {
				c.Digest = ""
				if set {
					c.Digest = MaterialDigest(c.CertPEM, c.KeyPEM)
				}
			}
		}
		return s
	}
	zeroish := full(false)
	for i := range zeroish.Servers {
		zeroish.Servers[i].UseRegex = false
		for j := range zeroish.Servers[i].Paths {
			p := &zeroish.Servers[i].Paths[j]
			p.Canaries = nil
			p.Backend = Backend{}
		}
	}
	zeroish.Certificates[0].Hosts = nil
	zeroish.Certificates[1].CertPEM = []byte{}
	zeroish.DefaultCertificate = nil
	zeroish.DefaultBackend.Endpoints = []string{}
	tests := map[string]*Snapshot{
		"empty":       {},
		"no servers":  {Servers: []Server{}},
		"full":        digests(full(false), true),
		"full tricky": digests(full(true), false),
		"zero fields": digests(zeroish, false),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want := hashJSON(s)
			if got := hashOf(s); got != want {
				t.Errorf("hashOf = %s, want the hash of json.Marshal %s", got, want)
			}
			// A cache's digests, computed then reused, give the same.
			cache := newHashCache()
			for i := range 2 {
				if got := hashWith(s, cache); got != want {
					t.Errorf("hashWith, %d times = %s, want the hash of json.Marshal %s", i+1, got, want)
				}
			}
		})
	}
}

func sliceOfPointers[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}
