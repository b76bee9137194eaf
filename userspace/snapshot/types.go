// Package snapshot turns Kubernetes objects (Ingress, IngressClass, Service,
// EndpointSlice, Secret, ConfigMap) into an immutable, versioned, hashed
// Snapshot: the whole routing configuration of Weir as plain data.
//
// Build is the only function that reads Ingress annotations (through the
// annotations package); nothing downstream of a Snapshot sees a string map.
// The folder source and the cluster source both feed Build, so both route
// identically.
package snapshot

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/annotations"
)

// Objects is the input of Build: every object a source knows of. Slices may be
// in any order; Build sorts what it needs. Nil slices mean "none".
type Objects struct {
	Ingresses      []*networkingv1.Ingress
	IngressClasses []*networkingv1.IngressClass
	Services       []*corev1.Service
	EndpointSlices []*discoveryv1.EndpointSlice
	Secrets        []*corev1.Secret
	ConfigMaps     []*corev1.ConfigMap
	// Changed optionally names every object (Kind Ingress, Service,
	// EndpointSlice, Secret, ConfigMap or IngressClass) that changed since
	// the Objects a Builder built before: it lets the Builder rebuild only
	// what they affect. Nil means unknown (a full build); Build ignores it.
	Changed []ObjectRef
}

// Options selects which Ingresses Build serves and where global settings come
// from. The zero value is not useful; start from DefaultOptions.
type Options struct {
	// ControllerClass is the spec.controller value of the IngressClasses Weir
	// serves. Default "weir-lb.dev/ingress-controller".
	ControllerClass string
	// IngressClass is the value of the legacy kubernetes.io/ingress.class
	// annotation that Weir serves. Default "weir".
	IngressClass string
	// WatchIngressWithoutClass serves Ingresses that name no class at all,
	// even when no default IngressClass of Weir's exists. Default false.
	WatchIngressWithoutClass bool
	// IngressClassByName also makes Weir's the IngressClass named
	// IngressClass, whatever its spec.controller (ingress-nginx's
	// --ingress-class-by-name). Default false.
	IngressClassByName bool
	// DisableCatchAll ignores the Ingresses that have a spec.defaultBackend,
	// with rules or without (ingress-nginx's --disable-catch-all): they are
	// not served and get no status. Default false.
	DisableCatchAll bool
	// SkipDeepInspect serves the Ingresses whose host, path or spec.tls
	// fields hold text ingress-nginx's deep inspection refuses (inspect.go);
	// ingress-nginx's --deep-inspect=false. Default false: they are not
	// served and get an UnsafeIngress warning.
	SkipDeepInspect bool
	// SkipAnnotationValidation serves the Ingresses whose annotation
	// values ingress-nginx's validators reject (ingress-nginx's
	// --enable-annotation-validation=false); the risk level and the word
	// blocklist of the ConfigMap still refuse Ingresses. Default false:
	// they are not served and get an InvalidIngress warning.
	SkipAnnotationValidation bool
	// DisableServiceExternalName refuses the Services of type ExternalName
	// of HTTP routes (ingress-nginx's --disable-svc-external-name): their
	// routes answer 503 with an UnsupportedService warning. Default false:
	// the route proxies to the external name, resolved at each connection.
	DisableServiceExternalName bool
	// DefaultBackendService is the namespace/name of the Service, on its
	// first port, that answers what no rule matches (ingress-nginx's
	// --default-backend-service, its upstream-default-backend): the root
	// location of a host whose oldest Ingress has no spec.defaultBackend,
	// and the hosts no rule names when no rule-less Ingress has a
	// spec.defaultBackend. Empty means none: Weir's 404. Default "".
	DefaultBackendService string
	// ConfigMap is the namespace/name of the ConfigMap holding global
	// settings (ingress-nginx's keys). Empty means none. Default "".
	ConfigMap string
	// DefaultSSLCertificate is the namespace/name of the TLS
	// Secret served when no certificate matches a TLS handshake
	// (--default-ssl-certificate). Empty means Weir's self-signed
	// certificate. Default "".
	DefaultSSLCertificate string
	// TCPServices and UDPServices are the namespace/name of the ConfigMaps
	// of TCP and UDP ports to forward to Services
	// (--tcp-services-configmap, --udp-services-configmap), built into
	// Snapshot.Streams. Empty means none. Default "".
	TCPServices, UDPServices string
	// ReservedPorts are the ports Weir listens on itself (HTTP, HTTPS,
	// metrics): a stream entry naming one is skipped with a warning. Nil
	// means none.
	ReservedPorts []int
	// EnableSSLPassthrough honours the ssl-passthrough annotation
	// (--enable-ssl-passthrough); without it the annotation is ignored
	// with a warning, as in ingress-nginx. Default false.
	EnableSSLPassthrough bool
}

// DefaultOptions returns the defaults documented on Options.
func DefaultOptions() Options {
	return Options{
		ControllerClass: "weir-lb.dev/ingress-controller",
		IngressClass:    "weir",
	}
}

// Snapshot is one complete routing configuration. It is immutable once
// built: publishers and workers share it without copying.
type Snapshot struct {
	// Version is assigned by the publisher when the Hash changes; Build
	// leaves it 0. Versions increase by one per distinct configuration.
	Version uint64 `json:"version,omitempty"`
	// Hash is the hex SHA-256 of the routing content (Servers,
	// DefaultBackend, DefaultService, Certificates, DefaultCertificate,
	// DefaultCertificateHosts, Global, HSTS and Streams, not
	// Version or Warnings; each Server and certificate by the SHA-256 of its
	// own JSON, hash.go): new certificate material changes it.
	Hash string `json:"hash"`
	// Servers holds one entry per distinct host, sorted: exact hosts, then
	// wildcard hosts, then the any-host server (Host "") last. A host a rule
	// names has its Server, with its root location "/" at least (see
	// Backend.DefaultUpstream); the any-host server is there only with
	// paths.
	Servers []Server `json:"servers"`
	// DefaultBackend is the catch-all for the requests of the hosts no
	// rule names and those no rule without a host matches: the
	// spec.defaultBackend of the oldest Ingress without rules that has one,
	// else DefaultService. Nil means Weir answers 404 itself.
	DefaultBackend *Backend `json:"defaultBackend,omitempty"`
	// DefaultCanaries are the canaries of DefaultBackend, oldest first:
	// the spec.defaultBackend of canary Ingresses, when DefaultBackend is
	// a non-canary Ingress's (as ingress-nginx's mergeAlternativeBackends
	// merges them into the default server). Nil means none.
	DefaultCanaries []Canary `json:"defaultCanaries,omitempty"`
	// DefaultService is Options.DefaultBackendService's backend when that
	// Service exists and has ready endpoints, whether or not an Ingress's
	// spec.defaultBackend took the catch-all from it: ingress-nginx's
	// upstream-default-backend, where custom-http-errors sends its error
	// pages (the default-backend annotation aside). Nil means none: the
	// error pages are nginx's 404 page, as from ingress-nginx's internal
	// default backend.
	DefaultService *Backend `json:"defaultService,omitempty"`
	// Certificates are the valid certificates of the spec.tls sections of
	// the served Ingresses, one per Secret, sorted by namespace/name. Nil
	// means none.
	Certificates []Certificate `json:"certificates,omitempty"`
	// DefaultCertificate is the certificate of Options.DefaultSSLCertificate,
	// served when no certificate matches. Nil means Weir's self-signed one.
	DefaultCertificate *Certificate `json:"defaultCertificate,omitempty"`
	// DefaultCertificateHosts are the rule hosts served the default
	// certificate (DefaultCertificate, else Weir's self-signed one) by
	// name: those whose deciding Ingress lists them with an empty
	// secretName, names a missing or invalid Secret or a certificate not
	// valid for them, or has no section for them (the README's TLS).
	// ingress-nginx's configureCertificates maps such a server to the
	// default certificate's uid, and certificate.lua finds that before the
	// wildcard host one label up, so a handshake whose SNI is one of them
	// gets the default certificate, not a wildcard host's. Lower-case,
	// sorted. Nil means none.
	DefaultCertificateHosts []string `json:"defaultCertificateHosts,omitempty"`
	// Global holds the controller ConfigMap's global settings
	// (use-forwarded-headers, proxy-real-ip-cidr,
	// large-client-header-buffers, ...). The zero value, omitted from the
	// JSON, means every default.
	Global annotations.Global `json:"global,omitzero"`
	// HSTS is the Strict-Transport-Security value of the controller
	// ConfigMap's hsts settings, for the HTTPS responses of every route and
	// of the default backend, TLS host or not, as ingress-nginx (build_tls.go),
	// and of Weir's own 404 for the hosts no rule names when there is no
	// default backend (ingress-nginx's default server "_" answers it from
	// its root location, whose header filter adds the header). "" means
	// hsts is off; the ConfigMap keeps it on by default.
	HSTS string `json:"hsts,omitempty"`
	// Streams are the TCP and UDP ports forwarded to Services (the
	// ConfigMaps of Options.TCPServices and UDPServices), TCP first, each
	// protocol by port. Nil means none.
	Streams []Stream `json:"streams,omitempty"`
	// Warnings lists what Build rejected or ignored, per object, sorted.
	Warnings []Warning `json:"warnings,omitempty"`
}

// Server holds the routes of one host.
type Server struct {
	// Host is lower-case: an exact name ("foo.com"), a wildcard matching
	// exactly one label ("*.foo.com"), or "" for rules without a host, which
	// match any host not matched by another Server.
	Host string `json:"host"`
	// UseRegex is true when any Ingress of this host sets
	// nginx.ingress.kubernetes.io/use-regex: "true"; then every
	// non-Exact path of the host is matched as a regular expression.
	UseRegex bool `json:"useRegex,omitempty"`
	// AppRoot is the app-root of the oldest Ingress of this host that sets
	// one: a request whose path is "/" is answered 302 to
	// $scheme://$http_host<AppRoot> before any path matches. "" means none.
	AppRoot string `json:"appRoot,omitempty"`
	// Aliases are more host names this Server serves (server-alias of the
	// oldest Ingress of the host that sets one), exact or "*." wildcards,
	// lower-case, sorted; none is the Host of another Server, nor an alias of a Server
	// sorted before this one. Nil means none.
	Aliases []string `json:"aliases,omitempty"`
	// NoTLSAliases are the Aliases that have no certificate by name though
	// Host has one: the certificate of Host is not valid for them and no
	// wildcard host (or alias) one label above them has one; sorted.
	// ingress-nginx decides ssl-redirect by the request's host
	// (certificate.lua configured_for_current_request), so a plain HTTP
	// request through one of them is redirected only under
	// force-ssl-redirect (Backend.ForceSSLRedirect), not by ssl-redirect.
	// Nil means none.
	NoTLSAliases []string `json:"noTLSAliases,omitempty"`
	// RedirectFrom is the host whose requests are redirected to this one
	// with 308 (from-to-www-redirect): www.<Host>, or Host without its
	// "www." when it has one. It is not the Host of another Server. "" means
	// none.
	RedirectFrom string `json:"redirectFrom,omitempty"`
	// Paths are in match order (see MatchType for what order means).
	Paths []Path `json:"paths"`
	// TLS holds the host's server-level TLS settings (client certificates,
	// cipher suites, ssl-passthrough; servertls.go). Nil means none.
	TLS *ServerTLS `json:"tls,omitempty"`
}

// MatchType says how a Path is compared with a request path.
type MatchType string

const (
	// MatchExact compares the whole path, case-sensitively.
	MatchExact MatchType = "Exact"
	// MatchPrefix compares element-wise: "/a/b" matches "/a/b", "/a/b/" and
	// "/a/b/c", not "/a/bc". Prefix paths are stored without a trailing
	// slash, except "/" itself.
	MatchPrefix MatchType = "Prefix"
	// MatchRegex is a case-insensitive regular expression anchored at the
	// start of the path (ingress-nginx's use-regex).
	MatchRegex MatchType = "Regex"
)

// Path is one route of a Server. In a Server without UseRegex, Paths are
// sorted by length of Path, longest first, Exact before Prefix on a tie, so the
// first match is the right one. In a Server with UseRegex, every path, Exact
// ones included, is a case-insensitive expression anchored at the start, as
// ingress-nginx renders them (~* "^path"), sorted as it sorts them: by length
// of Path, longest first, then the greater Path, then by age of their Ingress.
type Path struct {
	Path  string    `json:"path"`
	Match MatchType `json:"match"`
	// SlashRedirect is set on a Prefix path whose rule ended in "/" (other
	// than "/"): a request for Path itself is answered 301 to Path + "/",
	// as nginx's auto_redirect of the location "Path/" that ingress-nginx
	// renders for it (updateServerLocations keeps the slash: that rule does
	// not match Path). An Exact rule for Path takes it first. Default false.
	SlashRedirect bool `json:"slashRedirect,omitempty"`
	// CookiePath is the Path attribute of the affinity cookie set on this
	// path's responses when session-cookie-path is not set: the rule's
	// path as written ("/" for none), ingress-nginx's $location_path
	// ("/foo/" for a Prefix rule "/foo/", whose Path is "/foo"). It is
	// set only on a rule's path whose backend or one of whose canaries has
	// cookie affinity. "" means no cookie is set, as on a host's root
	// location made by its default backend, where ingress-nginx's sticky
	// balancer (should_set_cookie) finds no rule path of the host.
	CookiePath string  `json:"cookiePath,omitempty"`
	Backend    Backend `json:"backend"`
	// Canaries are the canary Ingresses attached to this rule, oldest
	// first (creationTimestamp, then the greater "namespace/name"). Nil means none.
	Canaries []Canary `json:"canaries,omitempty"`
}

// Canary is one canary backend of a Path (nginx.ingress.kubernetes.io/canary
// "true"). Per request the router tries, canary by canary in order, Header
// then Cookie; the first that selects its canary wins, one that says "never"
// is excluded for the request. Otherwise one draw r in [0, total), total
// being the largest WeightTotal of the Path's canaries, picks the first
// canary whose cumulative Weight exceeds r, else the main Backend.
type Canary struct {
	// Backend is the canary's Service, in the canary Ingress's namespace
	// (Backend.Ingress names the canary Ingress). Its Proxy settings are
	// those of the main rule, except LoadBalance and Balance (see canaryBalance),
	// which are the canary's own upstream's as in ingress-nginx.
	Backend Backend `json:"backend"`
	// Header is canary-by-header; "" means none.
	Header string `json:"header,omitempty"`
	// HeaderValue is canary-by-header-value; "" means none.
	HeaderValue string `json:"headerValue,omitempty"`
	// HeaderPattern is canary-by-header-pattern, possibly invalid (then a
	// request carrying Header goes to the main Backend); "" means none.
	HeaderPattern string `json:"headerPattern,omitempty"`
	// Cookie is canary-by-cookie; "" means none.
	Cookie string `json:"cookie,omitempty"`
	// Weight is canary-weight, clipped so that the weights of a Path never
	// sum past the shared total. 0 means never by weight.
	Weight int `json:"weight"`
	// WeightTotal is canary-weight-total (default 100).
	WeightTotal int `json:"weightTotal"`
}

// ObjectRef names a Kubernetes object.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Backend is where a route sends its requests, with the proxy settings of the
// Ingress that defined it.
type Backend struct {
	// Ingress is the Ingress that defined this route.
	Ingress ObjectRef `json:"ingress"`
	// Service is the name of the Service, in the Ingress's namespace.
	Service string `json:"service"`
	// Port is the Service port as written in the Ingress: a number or a name.
	Port string `json:"port"`
	// Endpoints are the ready addresses ("ip:port", IPv6 in brackets),
	// sorted and de-duplicated. Empty means the route answers 503.
	Endpoints []string `json:"endpoints"`
	// Unavailable says why Endpoints is empty ("service not found", "no
	// ready endpoints", ...); empty when there are endpoints.
	Unavailable string `json:"unavailable,omitempty"`
	// DefaultUpstream marks the root location of a host whose oldest
	// Ingress has no spec.defaultBackend: its requests go to ingress-nginx's
	// upstream-default-backend, the Snapshot's DefaultService at request
	// time, else Weir's 404 (the answer of ingress-nginx's internal default
	// backend), after the location settings of that Ingress (Proxy,
	// SSLRedirect; the Snapshot's HSTS). Service, Port and Endpoints are then empty.
	// Default false.
	DefaultUpstream bool `json:"defaultUpstream,omitempty"`
	// Proxy holds the typed proxy annotations of the Ingress.
	Proxy annotations.Proxy `json:"proxy"`
	// SSLRedirect answers plain HTTP requests of this route with a 308
	// redirect to HTTPS: the host has TLS and the Ingress keeps
	// ssl-redirect, or the Ingress sets force-ssl-redirect. Default false.
	SSLRedirect bool `json:"sslRedirect,omitempty"`
	// ForceSSLRedirect is force-ssl-redirect: SSLRedirect whatever the
	// request's host, also for a request through one of the Server's
	// NoTLSAliases. Default false.
	ForceSSLRedirect bool `json:"forceSSLRedirect,omitempty"`
	// UpstreamTLS is the validated proxy-ssl-secret of the route
	// (build_upstream.go). Nil means none.
	UpstreamTLS *UpstreamTLS `json:"upstreamTLS,omitempty"`
	// ErrorBackend is the Service of the default-backend annotation, which
	// answers custom-http-errors and the requests of a route without
	// endpoints (build_upstream.go). Nil means the Snapshot's
	// DefaultBackend.
	ErrorBackend *Backend `json:"errorBackend,omitempty"`
}

// UpstreamName is ingress-nginx's name of b's upstream,
// "namespace-service-port" (the port as the Ingress names it): what its
// canary label, affinity cookie and persistent keys are made of.
func (b *Backend) UpstreamName() string {
	return upstreamName(b.Ingress.Namespace, b.Service, b.Port)
}

// upstreamName is the name of the upstream of port of Service svc in
// namespace ns, ingress-nginx's namespace-service-port.
func upstreamName(ns, svc, port string) string { return ns + "-" + svc + "-" + port }

// Certificate is the validated material of one kubernetes.io/tls Secret.
type Certificate struct {
	// Secret is the Secret the material comes from.
	Secret ObjectRef `json:"secret"`
	// Hosts are the hosts served this certificate: the rule hosts whose
	// certificate it is (as ingress-nginx's createServers settles it, see
	// the README's TLS), and the server-alias and from-to-www-redirect
	// names of those hosts it is valid for; lower-case, sorted,
	// de-duplicated. A handshake whose SNI is one of them, or under one
	// that is a wildcard, gets this certificate. Nil means none.
	Hosts []string `json:"hosts,omitempty"`
	// CertPEM is tls.crt: the leaf certificate, then its intermediates.
	CertPEM []byte `json:"certPEM"`
	// KeyPEM is tls.key: the private key of the leaf.
	KeyPEM []byte `json:"keyPEM"`
	// Digest is MaterialDigest(CertPEM, KeyPEM), set by Build (computed
	// once per Secret by a Builder): what Snapshot.Hash covers of the
	// material, so that hashing 10 000 certificates does not read their
	// PEM. Empty means not computed yet.
	Digest string `json:"digest,omitempty"`
}

// Warning reports an object, or a part of one, that Build rejected or ignored.
// The rest of the configuration is built regardless.
type Warning struct {
	Object ObjectRef `json:"object"`
	// Reason is a short CamelCase word, usable as an Event reason:
	// InvalidAnnotation, ServiceNotFound, PortNotFound, NoReadyEndpoints,
	// ConflictLost, InvalidPath, IngressClassNotFound, SecretNotFound,
	// InvalidCertificate, and those of the
	// Reason* constants (UnsupportedAnnotation, SnippetIgnored,
	// InvalidHost, InvalidBackend, UnsupportedService, ConfigMapNotFound,
	// InvalidConfigMapValue).
	Reason  string `json:"reason"`
	Message string `json:"message"`
}
