// Package htpasswd reads the user files of nginx's auth_basic (Apache's
// htpasswd format) and checks passwords against their hashes.
//
// Supported hashes, as nginx's ngx_crypt and the musl crypt(3) of
// ingress-nginx's image: bcrypt ($2y$, $2a$, $2b$), apr1 ($apr1$) and
// FreeBSD MD5 ($1$), {SHA}, {SSHA} and {PLAIN}. DES crypt and the SHA-crypt
// schemes ($5$, $6$) are refused: Check reports them and Verify never
// accepts them, so such a user cannot log in.
package htpasswd

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Entry is one line of a user file.
type Entry struct {
	User string
	Hash string
}

// Parse reads an htpasswd file: one "user:hash" per line (anything after a
// further ':' is ignored, as nginx does), blank lines and lines starting
// with '#' skipped. A line without ':' is returned in bad with the reason.
func Parse(data []byte) (entries []Entry, bad []string) {
	for _, line := range bytes.FieldsFunc(data, func(r rune) bool { return r == '\n' || r == '\r' }) {
		s := string(line)
		if strings.TrimSpace(s) == "" || strings.HasPrefix(s, "#") {
			continue
		}
		user, hash, ok := strings.Cut(s, ":")
		if !ok || user == "" {
			bad = append(bad, "a line is not user:hash")
			continue
		}
		hash, _, _ = strings.Cut(hash, ":")
		entries = append(entries, Entry{User: user, Hash: hash})
	}
	return entries, bad
}

// ErrUnsupported marks a hash scheme Weir does not verify.
var ErrUnsupported = errors.New("hash scheme is not supported (use bcrypt, apr1, {SHA} or {SSHA})")

// Check returns nil when Verify can accept a password for hash.
func Check(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$2y$"), strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return errors.New("malformed bcrypt hash")
		}
	case strings.HasPrefix(hash, "$apr1$"), strings.HasPrefix(hash, "$1$"),
		strings.HasPrefix(hash, "{PLAIN}"):
	case strings.HasPrefix(hash, "{SHA}"):
		if d, err := base64.StdEncoding.DecodeString(hash[5:]); err != nil || len(d) != sha1.Size {
			return errors.New("malformed {SHA} hash")
		}
	case strings.HasPrefix(hash, "{SSHA}"):
		if d, err := base64.StdEncoding.DecodeString(hash[6:]); err != nil || len(d) <= sha1.Size {
			return errors.New("malformed {SSHA} hash")
		}
	case strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
		return errors.New("SHA-crypt " + ErrUnsupported.Error())
	default:
		return errors.New("DES crypt " + ErrUnsupported.Error())
	}
	return nil
}

// Verify reports whether password matches hash.
func Verify(hash, password string) bool {
	if Check(hash) != nil {
		return false
	}
	switch {
	case strings.HasPrefix(hash, "$2"):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	case strings.HasPrefix(hash, "$apr1$"):
		return equal(md5Crypt(password, hash, "$apr1$"), hash)
	case strings.HasPrefix(hash, "$1$"):
		return equal(md5Crypt(password, hash, "$1$"), hash)
	case strings.HasPrefix(hash, "{PLAIN}"):
		return equal(hash[7:], password)
	case strings.HasPrefix(hash, "{SHA}"):
		sum := sha1.Sum([]byte(password))
		return equal(base64.StdEncoding.EncodeToString(sum[:]), hash[5:])
	case strings.HasPrefix(hash, "{SSHA}"):
		d, _ := base64.StdEncoding.DecodeString(hash[6:])
		h := sha1.New()
		h.Write([]byte(password))
		h.Write(d[sha1.Size:])
		return subtle.ConstantTimeCompare(h.Sum(nil), d[:sha1.Size]) == 1
	}
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// md5Crypt is Poul-Henning Kamp's MD5-based crypt with magic "$1$" or
// Apache's "$apr1$"; setting is a hash of that scheme (its salt is read up
// to 8 characters or the next '$'). It returns magic, salt, '$' and the
// digest.
func md5Crypt(password, setting, magic string) string {
	salt := strings.TrimPrefix(setting, magic)
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > 8 {
		salt = salt[:8]
	}
	pw := []byte(password)
	alt := md5.Sum([]byte(password + salt + password))
	ctx := md5.New()
	ctx.Write([]byte(password + magic + salt))
	for i := len(pw); i > 0; i -= 16 {
		ctx.Write(alt[:min(16, i)])
	}
	for i := len(pw); i != 0; i >>= 1 {
		if i&1 != 0 {
			ctx.Write([]byte{0})
		} else {
			ctx.Write(pw[:1])
		}
	}
	final := ctx.Sum(nil)
	for i := range 1000 {
		c := md5.New()
		if i&1 != 0 {
			c.Write(pw)
		} else {
			c.Write(final)
		}
		if i%3 != 0 {
			c.Write([]byte(salt))
		}
		if i%7 != 0 {
			c.Write(pw)
		}
		if i&1 != 0 {
			c.Write(final)
		} else {
			c.Write(pw)
		}
		final = c.Sum(nil)
	}
	var b strings.Builder
	b.WriteString(magic + salt + "$")
	to64 := func(v uint32, n int) {
		for ; n > 0; n-- {
			b.WriteByte(itoa64[v&0x3f])
			v >>= 6
		}
	}
	for _, g := range [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		to64(uint32(final[g[0]])<<16|uint32(final[g[1]])<<8|uint32(final[g[2]]), 4)
	}
	to64(uint32(final[11]), 2)
	return b.String()
}
