package proxy

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
)

// Digest authentication, as the nginx-http-auth-digest module that
// ingress-nginx loads for auth-type digest: RFC 2617 with MD5 and qop
// "auth", users from an htdigest file (user:realm:HA1, the realm being
// auth-realm), nonces valid for 60 seconds, each nonce count accepted once
// and in increasing order (replays refused). Nonces are made by this
// process; another worker's nonce is answered with a stale challenge, which
// clients answer without asking the user again.

// digestNonceLifetime is the module's auth_digest_timeout default.
const digestNonceLifetime = 60 * time.Second

// digestNonces makes and checks nonces: 8 bytes of issue time and 8 of
// its HMAC under a per-process key, in hex; lastNC is the highest nonce
// count seen per nonce.
type digestNonces struct {
	once   sync.Once
	key    [32]byte
	mu     sync.Mutex
	lastNC map[string]uint64
	// swept is when lastNC, full, was last swept of its expired nonces,
	// sweeps how many times: once a second at most, so that a full
	// record costs a walk of it per second, not per request.
	swept  time.Time
	sweeps int
}

const maxDigestNonces = 100000

func (d *digestNonces) mac(ts []byte) []byte {
	d.once.Do(func() { _, _ = rand.Read(d.key[:]) })
	m := hmac.New(sha256.New, d.key[:])
	m.Write(ts)
	return m.Sum(nil)[:8]
}

func (d *digestNonces) issue(now time.Time) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.UnixNano()))
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(d.mac(ts[:]))
}

// fresh reports whether nonce is one of ours, not expired.
func (d *digestNonces) fresh(nonce string, now time.Time) bool {
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) != 16 || !hmac.Equal(raw[8:], d.mac(raw[:8])) {
		return false
	}
	issued := issuedAt(raw[:8])
	return now.Sub(issued) < digestNonceLifetime && !issued.After(now)
}

// issuedAt is the issue time a nonce's first 8 bytes (issue's ts) hold.
func issuedAt(ts []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(ts)))
}

// nonceIssued returns the issue time of nonce, one of ours.
func nonceIssued(nonce string) time.Time {
	var ts [8]byte
	_, _ = hex.Decode(ts[:], []byte(nonce[:16]))
	return issuedAt(ts[:])
}

// use records nonce count nc of nonce, one of ours (fresh at now); false
// when it is not above the last one seen (a replay), or when
// maxDigestNonces nonces, none expired at now, are recorded: forgetting one
// would let it be replayed, so a new one is refused until some expire (as
// the module's full shared memory zone refuses). now is the request's
// clock reading, the one fresh was given, so that the once-a-second sweep
// is timed by the requests and not by how long a sweep took.
func (d *digestNonces) use(nonce string, nc uint64, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastNC == nil {
		d.lastNC = map[string]uint64{}
	}
	last, seen := d.lastNC[nonce]
	if nc <= last {
		return false
	}
	if !seen && len(d.lastNC) >= maxDigestNonces {
		if now.Sub(d.swept) < time.Second {
			return false
		}
		d.swept = now
		d.sweeps++
		for k := range d.lastNC {
			if now.Sub(nonceIssued(k)) >= digestNonceLifetime {
				delete(d.lastNC, k) // fresh refuses it from now on
			}
		}
		if len(d.lastNC) >= maxDigestNonces {
			return false
		}
	}
	if !seen {
		nonce = strings.Clone(nonce) // a map key: not the request head's memory (l7/arena)
	}
	d.lastNC[nonce] = nc
	return true
}

// digestChallenge is the module's WWW-Authenticate.
func (au *authenticator) digestChallenge(realm string, stale bool) http.Header {
	v := `Digest algorithm="MD5", qop="auth", realm="` + realm + `", nonce="` + au.digest.issue(time.Now()) + `"`
	if stale {
		v += `, stale="true"`
	}
	return http.Header{"Www-Authenticate": {v}}
}

// checkDigest is checkBasic for auth-type digest; uri is the request's
// URI, which the credentials must name.
func (au *authenticator) checkDigest(b *annotations.BasicAuth, authz, method, uri string) (bool, http.Header) {
	scheme, rest, _ := strings.Cut(authz, " ")
	if !strings.EqualFold(scheme, "Digest") {
		return false, au.digestChallenge(b.Realm, false)
	}
	p := parseDigestParams(rest)
	if p["realm"] != b.Realm || p["uri"] != uri || p["qop"] != "auth" || p["cnonce"] == "" ||
		(p["algorithm"] != "" && !strings.EqualFold(p["algorithm"], "MD5")) {
		return false, au.digestChallenge(b.Realm, false)
	}
	nc, err := strconv.ParseUint(p["nc"], 16, 64)
	if err != nil || len(p["nc"]) != 8 {
		return false, au.digestChallenge(b.Realm, false)
	}
	ha1 := ""
	for _, line := range b.Users {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && f[0] == p["username"] && f[1] == b.Realm {
			ha1 = f[2]
			break
		}
	}
	if ha1 == "" {
		return false, au.digestChallenge(b.Realm, false)
	}
	ha2 := md5Hex(method + ":" + uri)
	want := md5Hex(strings.Join([]string{strings.ToLower(ha1), p["nonce"], p["nc"], p["cnonce"], "auth", ha2}, ":"))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 {
		return false, au.digestChallenge(b.Realm, false)
	}
	now := time.Now()
	if !au.digest.fresh(p["nonce"], now) {
		return false, au.digestChallenge(b.Realm, true) // right password, old nonce
	}
	if !au.digest.use(p["nonce"], nc, now) {
		return false, au.digestChallenge(b.Realm, false)
	}
	return true, nil
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// parseDigestParams reads the comma-separated name=value and
// name="quoted value" pairs of a Digest Authorization header.
func parseDigestParams(s string) map[string]string {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return out
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var v string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			v, s = b.String(), s[min(i+1, len(s)):]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			v, s = strings.TrimSpace(s[:end]), s[end:]
		}
		out[name] = v
	}
}
