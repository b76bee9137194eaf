package htpasswd

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

// The apr1 and $1$ vectors are from `openssl passwd -apr1 -salt abcdefgh`
// and `openssl passwd -1 -salt xy`; {SHA} and {SSHA} from Python's
// hashlib; the bcrypt one is Openwall's test vector for "U*U".
func TestVerify(t *testing.T) {
	t.Parallel()
	gen, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	y := "$2y$" + strings.TrimPrefix(string(gen), "$2a$") // as htpasswd -B writes
	tests := []struct {
		name, hash, good string
	}{
		{"apr1", "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/", "secret"},
		{"apr1 utf8", "$apr1$abcdefgh$rRdIxwY5XRHT4TMtBPZn.0", "pässword"},
		{"apr1 empty", "$apr1$abcdefgh$L.PT565ESX4Tp2bqNs7Ie.", ""},
		{"md5 crypt", "$1$xy$mkJt1Ht8AivD6sawHd.Cf1", "secret"},
		{"bcrypt 2a vector", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
		{"bcrypt 2y", y, "secret"},
		{"bcrypt 2b", "$2b$" + strings.TrimPrefix(string(gen), "$2a$"), "secret"},
		{"sha", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret"},
		{"ssha", "{SSHA}Wcm1xEisNjqp921ALcHfuQ7avFdzYWx0MTIzNA==", "secret"},
		{"plain", "{PLAIN}secret", "secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := Check(tc.hash); err != nil {
				t.Fatalf("Check(%q) = %v", tc.hash, err)
			}
			if !Verify(tc.hash, tc.good) {
				t.Errorf("Verify(%q, %q) = false, want true", tc.hash, tc.good)
			}
			for _, bad := range []string{tc.good + "x", "Secret", "wrong"} {
				if Verify(tc.hash, bad) {
					t.Errorf("Verify(%q, %q) = true, want false", tc.hash, bad)
				}
			}
		})
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	for _, hash := range []string{
		"abJnggxhB/yWI", // DES crypt of "secret", salt ab
		"$6$ab$2lDVylRMp48hlYZZFOCx/xnhJEsGPynJ17rt2um9Gb8wX6ygI4uDxg3Bg43pp/Hv397hwWfT8mciHws9eE4sR/",
		"$5$ab$x", "{SHA}notbase64!", "{SHA}YWJj", "$2y$05$short", "",
	} {
		if Check(hash) == nil {
			t.Errorf("Check(%q) = nil, want an error", hash)
		}
		if Verify(hash, "secret") {
			t.Errorf("Verify(%q) = true for a refused hash", hash)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	data := "# users\r\nfoo:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/\n\nbar:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=:comment\nnocolon\n:empty\nfoo:{PLAIN}second"
	got, bad := Parse([]byte(data))
	want := []Entry{
		{"foo", "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/"},
		{"bar", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="},
		{"foo", "{PLAIN}second"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	if len(bad) != 2 {
		t.Errorf("bad = %q, want 2 reasons", bad)
	}
}
