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

// hashContent is the routing content of a Snapshot that its Hash covers:
// each Server by the hex SHA-256 of its JSON, each certificate by that of
// its hashedCertificate's (its material by its digest). Hashing an element
// apart lets a Builder reuse the digests of the Servers and certificates a
// change leaves alone (hashCache): a change among 10 000 hashes what it
// changed and a list of digests, not the JSON of everything.
type hashContent struct {
	Servers                 []string           `json:"servers"`
	DefaultBackend          *Backend           `json:"defaultBackend"`
	DefaultCanaries         []Canary           `json:"defaultCanaries,omitempty"`
	DefaultService          *Backend           `json:"defaultService,omitempty"`
	Certificates            []string           `json:"certificates,omitempty"`
	DefaultCertificate      *hashedCertificate `json:"defaultCertificate,omitempty"`
	DefaultCertificateHosts []string           `json:"defaultCertificateHosts,omitempty"`
	Global                  annotations.Global `json:"global,omitzero"`
	HSTS                    string             `json:"hsts,omitempty"`
	Streams                 []Stream           `json:"streams,omitempty"`
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

// hashedCertificate returns what the Hash covers of c; reference computes
// the digest from the material instead of trusting Certificate.Digest.
func hashedCertificateOf(c *Certificate, reference bool) hashedCertificate {
	d := c.Sum()
	if reference {
		d = MaterialDigest(c.CertPEM, c.KeyPEM)
	}
	return hashedCertificate{Secret: c.Secret, Hosts: c.Hosts, Digest: d}
}

// hashOf is the Hash of s: the hex SHA-256 of the JSON of its hashContent.
func hashOf(s *Snapshot) string { return hashWith(s, nil) }

// hashWith is hashOf taking the digests of the Servers and certificates
// cache holds (nil: none) rather than hashing them again.
//
// The JSON is written by hand, byte for byte what encoding/json.Marshal
// gives (TestHashEncoderMatchesJSON checks it on every field), straight
// into the digests: reflection and one large buffer cost more than the
// rest of Build at 10 000 Ingresses.
func hashWith(s *Snapshot, cache *hashCache) string {
	e, elem := newHashEncoder(), newHashEncoder()
	if cache != nil {
		cache.next()
	}
	digest := func(sum []byte) {
		var hexSum [2 * sha256.Size]byte
		hex.Encode(hexSum[:], sum)
		e.buf = append(e.buf, '"')
		e.buf = append(e.buf, hexSum[:]...)
		e.buf = append(e.buf, '"')
		e.raw("")
	}
	e.buf = append(e.buf, '{')
	e.field(true, "servers")
	if s.Servers == nil {
		e.raw("null")
	} else {
		e.array(len(s.Servers), func(i int) {
			srv := &s.Servers[i]
			sum, ok := cache.server(srv)
			if !ok {
				elem.server(srv)
				sum = elem.sum()
				cache.setServer(srv, sum)
			}
			digest(sum[:])
		})
	}
	e.field(false, "defaultBackend")
	if s.DefaultBackend == nil {
		e.raw("null")
	} else {
		e.backend(s.DefaultBackend)
	}
	if len(s.DefaultCanaries) > 0 {
		e.field(false, "defaultCanaries")
		e.array(len(s.DefaultCanaries), func(i int) { e.canary(&s.DefaultCanaries[i]) })
	}
	if s.DefaultService != nil {
		e.field(false, "defaultService")
		e.backend(s.DefaultService)
	}
	if len(s.Certificates) > 0 {
		e.field(false, "certificates")
		e.array(len(s.Certificates), func(i int) {
			c := &s.Certificates[i]
			sum, ok := cache.certificate(c)
			if !ok {
				hc := hashedCertificateOf(c, false)
				elem.certificate(&hc)
				sum = elem.sum()
				cache.setCertificate(c, sum)
			}
			digest(sum[:])
		})
	}
	if s.DefaultCertificate != nil {
		e.field(false, "defaultCertificate")
		hc := hashedCertificateOf(s.DefaultCertificate, false)
		e.certificate(&hc)
	}
	if len(s.DefaultCertificateHosts) > 0 {
		e.field(false, "defaultCertificateHosts")
		e.strs(s.DefaultCertificateHosts)
	}
	if !s.Global.IsZero() {
		// Small and once per Snapshot: encoding/json covers every field.
		e.field(false, "global")
		data, _ := json.Marshal(s.Global) // plain data: cannot fail
		e.buf = append(e.buf, data...)
	}
	if s.HSTS != "" {
		e.field(false, "hsts")
		e.str(s.HSTS)
	}
	if len(s.Streams) > 0 {
		// A few per Snapshot: encoding/json covers every field.
		e.field(false, "streams")
		data, _ := json.Marshal(s.Streams) // plain data: cannot fail
		e.buf = append(e.buf, data...)
	}
	e.buf = append(e.buf, '}')
	sum := e.sum()
	return hex.EncodeToString(sum[:])
}

// hashJSON is the reference hashOf must equal: SHA-256 over json.Marshal,
// of each element, then of the whole.
func hashJSON(s *Snapshot) string {
	// Marshal cannot fail: the content is only strings, numbers, bools and
	// slices of them.
	hexSum := func(v any) string {
		data, _ := json.Marshal(v)
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:])
	}
	content := hashContent{DefaultBackend: s.DefaultBackend, DefaultCanaries: s.DefaultCanaries, DefaultService: s.DefaultService,
		DefaultCertificateHosts: s.DefaultCertificateHosts, Global: s.Global, HSTS: s.HSTS, Streams: s.Streams}
	if s.Servers != nil {
		content.Servers = make([]string, len(s.Servers))
		for i := range s.Servers {
			content.Servers[i] = hexSum(s.Servers[i])
		}
	}
	for i := range s.Certificates {
		content.Certificates = append(content.Certificates, hexSum(hashedCertificateOf(&s.Certificates[i], true)))
	}
	if s.DefaultCertificate != nil {
		d := hashedCertificateOf(s.DefaultCertificate, true)
		content.DefaultCertificate = &d
	}
	return hexSum(content)
}

// hashCache keeps the digests of the Servers and certificates of the last
// Hash, for the next: a Server carried over shares its Paths (Server.Equal
// is then O(1)), a certificate its Hosts; an entry keeps the element it
// was computed for, so that its memory cannot be reused meanwhile and a
// hit is checked equal. Entries the last Hash did not use are dropped once
// they are as many as those it used. Not safe for concurrent use; a nil
// *hashCache caches nothing.
type hashCache struct {
	servers map[*Path]*serverDigest
	certs   map[*string]*certDigest
	// epoch counts the Hashes; used is how many entries the current one
	// used.
	epoch, used int
}

type serverDigest struct {
	srv   Server
	sum   [sha256.Size]byte
	epoch int
}

type certDigest struct {
	secret ObjectRef
	hosts  []string
	digest string
	sum    [sha256.Size]byte
	epoch  int
}

func newHashCache() *hashCache {
	return &hashCache{servers: map[*Path]*serverDigest{}, certs: map[*string]*certDigest{}}
}

// next starts a Hash, first dropping the entries the previous one did not
// use when they are many.
func (c *hashCache) next() {
	if len(c.servers)+len(c.certs) > 2*c.used+64 {
		for k, d := range c.servers {
			if d.epoch != c.epoch {
				delete(c.servers, k)
			}
		}
		for k, d := range c.certs {
			if d.epoch != c.epoch {
				delete(c.certs, k)
			}
		}
	}
	c.epoch++
	c.used = 0
}

func (c *hashCache) server(srv *Server) ([sha256.Size]byte, bool) {
	if c == nil || len(srv.Paths) == 0 {
		return [sha256.Size]byte{}, false
	}
	d := c.servers[&srv.Paths[0]]
	if d == nil || !d.srv.Equal(srv) {
		return [sha256.Size]byte{}, false
	}
	d.epoch = c.epoch
	c.used++
	return d.sum, true
}

func (c *hashCache) setServer(srv *Server, sum [sha256.Size]byte) {
	if c != nil && len(srv.Paths) > 0 {
		c.servers[&srv.Paths[0]] = &serverDigest{srv: *srv, sum: sum, epoch: c.epoch}
		c.used++
	}
}

func (c *hashCache) certificate(cert *Certificate) ([sha256.Size]byte, bool) {
	if c == nil || len(cert.Hosts) == 0 || cert.Digest == "" {
		return [sha256.Size]byte{}, false
	}
	d := c.certs[&cert.Hosts[0]]
	if d == nil || d.secret != cert.Secret || d.digest != cert.Digest || len(d.hosts) != len(cert.Hosts) {
		return [sha256.Size]byte{}, false
	}
	d.epoch = c.epoch
	c.used++
	return d.sum, true
}

func (c *hashCache) setCertificate(cert *Certificate, sum [sha256.Size]byte) {
	if c != nil && len(cert.Hosts) > 0 && cert.Digest != "" {
		c.certs[&cert.Hosts[0]] = &certDigest{secret: cert.Secret, hosts: cert.Hosts, digest: cert.Digest, sum: sum, epoch: c.epoch}
		c.used++
	}
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
	sumBuf    []byte // of sum: h.Sum's result escapes
}

func newHashEncoder() *hashEncoder {
	e := &hashEncoder{h: sha256.New(), buf: make([]byte, 0, 64<<10)}
	e.proxies = json.NewEncoder(&e.proxyBuf)
	return e
}

// sum returns the digest of what e wrote since the last sum, and starts
// anew.
func (e *hashEncoder) sum() [sha256.Size]byte {
	e.flush()
	var out [sha256.Size]byte
	e.sumBuf = e.h.Sum(e.sumBuf[:0])
	copy(out[:], e.sumBuf)
	e.h.Reset()
	return out
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

// array writes a JSON array of n elements, each written by each(i).
func (e *hashEncoder) array(n int, each func(i int)) {
	e.buf = append(e.buf, '[')
	for i := range n {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		each(i)
	}
	e.buf = append(e.buf, ']')
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
	if len(s.NoTLSAliases) > 0 {
		e.field(false, "noTLSAliases")
		e.strs(s.NoTLSAliases)
	}
	if s.RedirectFrom != "" {
		e.field(false, "redirectFrom")
		e.str(s.RedirectFrom)
	}
	e.field(false, "paths")
	if s.Paths == nil {
		e.raw("null")
	} else {
		e.array(len(s.Paths), func(i int) { e.path(&s.Paths[i]) })
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
	if p.SlashRedirect {
		e.field(false, "slashRedirect")
		e.raw("true")
	}
	if p.CookiePath != "" {
		e.field(false, "cookiePath")
		e.str(p.CookiePath)
	}
	e.field(false, "backend")
	e.backend(&p.Backend)
	if len(p.Canaries) > 0 {
		e.field(false, "canaries")
		e.array(len(p.Canaries), func(i int) { e.canary(&p.Canaries[i]) })
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
	if b.DefaultUpstream {
		e.field(false, "defaultUpstream")
		e.raw("true")
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
	if b.ForceSSLRedirect {
		e.field(false, "forceSSLRedirect")
		e.raw("true")
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
