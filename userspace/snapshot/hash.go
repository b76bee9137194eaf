package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"strconv"

	"github.com/weir-lb/weir/userspace/annotations"
)

// hashContent is the routing content of a Snapshot that its Hash covers;
// certificates by the digest of their material.
type hashContent struct {
	Servers            []Server            `json:"servers"`
	DefaultBackend     *Backend            `json:"defaultBackend"`
	Certificates       []hashedCertificate `json:"certificates,omitempty"`
	DefaultCertificate *hashedCertificate  `json:"defaultCertificate,omitempty"`
	Global             annotations.Global  `json:"global,omitzero"`
	Streams            []Stream            `json:"streams,omitempty"`
}

// hashedCertificate is what the Hash covers of a Certificate.
type hashedCertificate struct {
	Secret ObjectRef `json:"secret"`
	Hosts  []string  `json:"hosts,omitempty"`
	Digest string    `json:"digest"`
}

// MaterialDigest is the hex SHA-256 of a certificate chain and its key.
func MaterialDigest(certPEM, keyPEM []byte) string {
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	return hex.EncodeToString(h.Sum(nil))
}

// Sum returns c.Digest, or MaterialDigest of c's PEM when Build did not set
// it: the key of c's material for the Hash and for caches of parsed
// certificates.
func (c *Certificate) Sum() string {
	if c.Digest != "" {
		return c.Digest
	}
	return MaterialDigest(c.CertPEM, c.KeyPEM)
}

// hashedContent is the hashContent of s; reference computes every digest
// from the material instead of trusting Certificate.Digest.
func hashedContent(s *Snapshot, reference bool) hashContent {
	hc := func(c *Certificate) hashedCertificate {
		d := c.Sum()
		if reference {
			d = MaterialDigest(c.CertPEM, c.KeyPEM)
		}
		return hashedCertificate{Secret: c.Secret, Hosts: c.Hosts, Digest: d}
	}
	content := hashContent{Servers: s.Servers, DefaultBackend: s.DefaultBackend, Global: s.Global, Streams: s.Streams}
	if len(s.Certificates) > 0 {
		content.Certificates = make([]hashedCertificate, len(s.Certificates))
		for i := range s.Certificates {
			content.Certificates[i] = hc(&s.Certificates[i])
		}
	}
	if s.DefaultCertificate != nil {
		d := hc(s.DefaultCertificate)
		content.DefaultCertificate = &d
	}
	return content
}

// hashOf is the hex SHA-256 of the JSON of the routing content of s.
//
// The JSON is written by hand, byte for byte what encoding/json.Marshal of
// hashContent gives (TestHashEncoderMatchesJSON checks it on every field),
// straight into the digest: reflection and one large buffer cost more than
// the rest of Build at 10 000 Ingresses.
func hashOf(s *Snapshot) string {
	e := &hashEncoder{h: sha256.New(), buf: make([]byte, 0, 64<<10)}
	e.proxies = json.NewEncoder(&e.proxyBuf)
	e.content(hashedContent(s, false))
	e.flush()
	return hex.EncodeToString(e.h.Sum(nil))
}

// hashJSON is the reference hashOf must equal: SHA-256 over json.Marshal.
func hashJSON(s *Snapshot) string {
	// Marshal cannot fail: the content is only strings, numbers, bools and
	// slices of them.
	data, _ := json.Marshal(hashedContent(s, true))
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// hashEncoder appends JSON to buf and feeds it to h in large chunks.
type hashEncoder struct {
	h   hash.Hash
	buf []byte
	// proxies encodes each annotations.Proxy with encoding/json, so that a
	// field added there is always covered.
	proxies  *json.Encoder
	proxyBuf bytes.Buffer
	// lastProxy is the Proxy encoded in proxyBuf, once proxyDone.
	lastProxy annotations.Proxy
	proxyDone bool
}

func (e *hashEncoder) flush() {
	e.h.Write(e.buf)
	e.buf = e.buf[:0]
}

func (e *hashEncoder) raw(s string) {
	e.buf = append(e.buf, s...)
	if len(e.buf) >= 60<<10 {
		e.flush()
	}
}

// str writes s as encoding/json does (HTML-safe escaping).
func (e *hashEncoder) str(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			data, _ := json.Marshal(s)
			e.buf = append(e.buf, data...)
			return
		}
	}
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, '"')
}

// field writes `"name":` after a comma unless first.
func (e *hashEncoder) field(first bool, name string) {
	if !first {
		e.buf = append(e.buf, ',')
	}
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, '"', ':')
}

func (e *hashEncoder) strs(ss []string) {
	if ss == nil {
		e.raw("null")
		return
	}
	e.buf = append(e.buf, '[')
	for i, s := range ss {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.str(s)
	}
	e.buf = append(e.buf, ']')
}

func (e *hashEncoder) content(c hashContent) {
	e.buf = append(e.buf, '{')
	e.field(true, "servers")
	if c.Servers == nil {
		e.raw("null")
	} else {
		e.buf = append(e.buf, '[')
		for i := range c.Servers {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.server(&c.Servers[i])
		}
		e.buf = append(e.buf, ']')
	}
	e.field(false, "defaultBackend")
	if c.DefaultBackend == nil {
		e.raw("null")
	} else {
		e.backend(c.DefaultBackend)
	}
	if len(c.Certificates) > 0 {
		e.field(false, "certificates")
		e.buf = append(e.buf, '[')
		for i := range c.Certificates {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.certificate(&c.Certificates[i])
			e.raw("") // flushes a full buffer rather than growing it
		}
		e.buf = append(e.buf, ']')
	}
	if c.DefaultCertificate != nil {
		e.field(false, "defaultCertificate")
		e.certificate(c.DefaultCertificate)
	}
	if !c.Global.IsZero() {
		// Small and once per Snapshot: encoding/json covers every field.
		e.field(false, "global")
		data, _ := json.Marshal(c.Global) // plain data: cannot fail
		e.buf = append(e.buf, data...)
	}
	if len(c.Streams) > 0 {
		// A few per Snapshot: encoding/json covers every field.
		e.field(false, "streams")
		data, _ := json.Marshal(c.Streams) // plain data: cannot fail
		e.buf = append(e.buf, data...)
	}
	e.buf = append(e.buf, '}')
}

func (e *hashEncoder) server(s *Server) {
	e.buf = append(e.buf, '{')
	e.field(true, "host")
	e.str(s.Host)
	if s.UseRegex {
		e.field(false, "useRegex")
		e.raw("true")
	}
	if s.AppRoot != "" {
		e.field(false, "appRoot")
		e.str(s.AppRoot)
	}
	if len(s.Aliases) > 0 {
		e.field(false, "aliases")
		e.strs(s.Aliases)
	}
	if s.RedirectFrom != "" {
		e.field(false, "redirectFrom")
		e.str(s.RedirectFrom)
	}
	e.field(false, "paths")
	if s.Paths == nil {
		e.raw("null")
	} else {
		e.buf = append(e.buf, '[')
		for i := range s.Paths {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.path(&s.Paths[i])
		}
		e.buf = append(e.buf, ']')
	}
	if s.TLS != nil {
		// Rare and small: encoding/json covers every field.
		e.field(false, "tls")
		data, _ := json.Marshal(s.TLS) // plain data: cannot fail
		e.buf = append(e.buf, data...)
	}
	e.raw("}")
}

func (e *hashEncoder) path(p *Path) {
	e.buf = append(e.buf, '{')
	e.field(true, "path")
	e.str(p.Path)
	e.field(false, "match")
	e.str(string(p.Match))
	e.field(false, "backend")
	e.backend(&p.Backend)
	if len(p.Canaries) > 0 {
		e.field(false, "canaries")
		e.buf = append(e.buf, '[')
		for i := range p.Canaries {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.canary(&p.Canaries[i])
		}
		e.buf = append(e.buf, ']')
	}
	e.buf = append(e.buf, '}')
}

func (e *hashEncoder) canary(c *Canary) {
	e.buf = append(e.buf, '{')
	e.field(true, "backend")
	e.backend(&c.Backend)
	for _, f := range [...]struct{ name, v string }{
		{"header", c.Header}, {"headerValue", c.HeaderValue}, {"headerPattern", c.HeaderPattern}, {"cookie", c.Cookie},
	} {
		if f.v != "" {
			e.field(false, f.name)
			e.str(f.v)
		}
	}
	e.field(false, "weight")
	e.buf = strconv.AppendInt(e.buf, int64(c.Weight), 10)
	e.field(false, "weightTotal")
	e.buf = strconv.AppendInt(e.buf, int64(c.WeightTotal), 10)
	e.buf = append(e.buf, '}')
}

func (e *hashEncoder) ref(r *ObjectRef) {
	e.buf = append(e.buf, '{')
	e.field(true, "kind")
	e.str(r.Kind)
	if r.Namespace != "" {
		e.field(false, "namespace")
		e.str(r.Namespace)
	}
	e.field(false, "name")
	e.str(r.Name)
	e.buf = append(e.buf, '}')
}

func (e *hashEncoder) backend(b *Backend) {
	e.buf = append(e.buf, '{')
	e.field(true, "ingress")
	e.ref(&b.Ingress)
	e.field(false, "service")
	e.str(b.Service)
	e.field(false, "port")
	e.str(b.Port)
	e.field(false, "endpoints")
	e.strs(b.Endpoints)
	if b.Unavailable != "" {
		e.field(false, "unavailable")
		e.str(b.Unavailable)
	}
	e.field(false, "proxy")
	// Most routes share their settings: encode them only when they differ
	// from the previous route's (an allocation per route otherwise).
	if !e.proxyDone || !proxyEqual(&b.Proxy, &e.lastProxy) {
		e.proxyBuf.Reset()
		_ = e.proxies.Encode(b.Proxy) // cannot fail: plain data
		e.lastProxy, e.proxyDone = b.Proxy, true
	}
	e.buf = append(e.buf, bytes.TrimSuffix(e.proxyBuf.Bytes(), []byte("\n"))...)
	if b.SSLRedirect {
		e.field(false, "sslRedirect")
		e.raw("true")
	}
	if b.HSTS != "" {
		e.field(false, "hsts")
		e.str(b.HSTS)
	}
	if b.UpstreamTLS != nil {
		e.field(false, "upstreamTLS")
		data, _ := json.Marshal(b.UpstreamTLS) // rare: no need to hand-write it
		e.buf = append(e.buf, data...)
	}
	if b.ErrorBackend != nil {
		e.field(false, "errorBackend")
		e.backend(b.ErrorBackend)
	}
	e.raw("}")
}

func (e *hashEncoder) certificate(c *hashedCertificate) {
	e.buf = append(e.buf, '{')
	e.field(true, "secret")
	e.ref(&c.Secret)
	if len(c.Hosts) > 0 {
		e.field(false, "hosts")
		e.strs(c.Hosts)
	}
	e.field(false, "digest")
	e.str(c.Digest)
	e.buf = append(e.buf, '}')
}
