package snapshot

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Stream protocols.
const (
	ProtocolTCP = "TCP"
	ProtocolUDP = "UDP"
)

// ReasonInvalidStream is the warning reason of an entry of the TCP or UDP
// services ConfigMap that Build skips: a port that is not a number in 1..65535
// or that Weir itself listens on, or a malformed "namespace/service:port".
const ReasonInvalidStream = "InvalidStream"

// Stream is one port of the TCP or UDP services ConfigMaps
// (--tcp-services-configmap, --udp-services-configmap): connections (TCP) or
// datagrams (UDP) arriving on Port are forwarded to the ready endpoints of a
// Service port, as ingress-nginx's stream {} servers.
type Stream struct {
	// Protocol is ProtocolTCP or ProtocolUDP.
	Protocol string `json:"protocol"`
	// Port is the external port Weir listens on (the ConfigMap key).
	Port int `json:"port"`
	// Service is the Service the port forwards to.
	Service ObjectRef `json:"service"`
	// ServicePort is the Service port as written in the ConfigMap: a number
	// or a name, whose protocol must be Protocol.
	ServicePort string `json:"servicePort"`
	// Endpoints are the ready addresses ("ip:port", IPv6 in brackets),
	// sorted and de-duplicated; for an ExternalName Service, its name and
	// target port ("db.example.com:5432"), resolved at each connection.
	// Empty means Weir still listens on Port and closes what arrives
	// (ingress-nginx would not listen at all).
	Endpoints []string `json:"endpoints"`
	// Unavailable says why Endpoints is empty; empty when there are
	// endpoints.
	Unavailable string `json:"unavailable,omitempty"`
	// DecodeProxyProtocol (the first ":PROXY", TCP only) expects a PROXY
	// protocol header (v1 or v2) from the client: its addresses are the
	// client's. Default false.
	DecodeProxyProtocol bool `json:"decodeProxyProtocol,omitempty"`
	// EncodeProxyProtocol (the second ":PROXY", TCP only) sends a PROXY
	// protocol v1 header to the upstream, as nginx's proxy_protocol on.
	// Default false.
	EncodeProxyProtocol bool `json:"encodeProxyProtocol,omitempty"`
}

// compareStreams orders Snapshot.Streams: TCP before UDP, then by port.
func compareStreams(a, b *Stream) int {
	return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
}

// streams builds the Streams of the TCP and UDP services ConfigMaps named by
// the Options; a named ConfigMap that is missing is warned about.
func (b *builder) streams(cms []*corev1.ConfigMap) []Stream {
	var out []Stream
	for _, src := range [...]struct{ proto, name string }{
		{ProtocolTCP, b.opts.TCPServices}, {ProtocolUDP, b.opts.UDPServices},
	} {
		if src.name == "" {
			continue
		}
		data, ref, ok := findConfigMap(cms, src.name)
		if !ok {
			b.warn(ref, ReasonConfigMapNotFound, "%s services configmap %s not found; no %s ports", src.proto, src.name, src.proto)
			continue
		}
		for port, target := range data {
			if s, ok := b.stream(ref, src.proto, port, target); ok {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(x, y Stream) int { return compareStreams(&x, &y) })
	return out
}

// findConfigMap returns the data of the ConfigMap "namespace/name" among
// cms, its reference, and whether it is there.
func findConfigMap(cms []*corev1.ConfigMap, nsname string) (map[string]string, ObjectRef, bool) {
	ns, name, ok := strings.Cut(nsname, "/")
	if !ok {
		ns, name = "", nsname
	}
	ref := ObjectRef{Kind: "ConfigMap", Namespace: ns, Name: name}
	for _, cm := range cms {
		if cm != nil && cm.Namespace == ns && cm.Name == name {
			return cm.Data, ref, true
		}
	}
	return nil, ref, false
}

// StreamServiceOf returns the Service an entry of a TCP or UDP services
// ConfigMap names ("namespace/name:port[:PROXY[:PROXY]]"), and whether it
// names one: what a scoped build must watch.
func StreamServiceOf(target string) (namespace, name string, ok bool) {
	nsName, _, _ := strings.Cut(target, ":")
	namespace, name, ok = strings.Cut(nsName, "/")
	return namespace, name, ok && namespace != "" && name != "" && !strings.Contains(name, "/")
}

// stream parses one entry of a services ConfigMap, as ingress-nginx's
// getStreamServices, and resolves its endpoints. false means skipped (and
// warned about).
func (b *builder) stream(ref ObjectRef, proto, key, target string) (Stream, bool) {
	port, err := strconv.Atoi(key)
	if err != nil || port < 1 || port > 65535 {
		b.warn(ref, ReasonInvalidStream, "%q is not a valid %s port number; entry skipped", key, proto)
		return Stream{}, false
	}
	if slices.Contains(b.opts.ReservedPorts, port) {
		b.warn(ref, ReasonInvalidStream, "port %d cannot be used for %s stream services: Weir listens on it itself; entry skipped", port, proto)
		return Stream{}, false
	}
	parts := strings.Split(target, ":")
	if len(parts) < 2 || len(parts) > 4 || parts[1] == "" {
		b.warn(ref, ReasonInvalidStream, "%s port %d: %q is not namespace/service:port[:PROXY[:PROXY]]; entry skipped", proto, port, target)
		return Stream{}, false
	}
	ns, name, ok := StreamServiceOf(target)
	if !ok {
		b.warn(ref, ReasonInvalidStream, "%s port %d: %q does not name a service as namespace/name; entry skipped", proto, port, parts[0])
		return Stream{}, false
	}
	s := Stream{Protocol: proto, Port: port, Service: ObjectRef{Kind: "Service", Namespace: ns, Name: name},
		ServicePort: parts[1], Endpoints: []string{}}
	for i, p := range parts[2:] {
		switch {
		case p == "": // "ns/svc:port::PROXY" sends without decoding
		case !strings.EqualFold(p, "PROXY"):
			b.warn(ref, ReasonInvalidStream, "%s port %d: %q is not PROXY; ignored", proto, port, p)
		case proto != ProtocolTCP:
			b.warn(ref, ReasonInvalidStream, "%s port %d: the PROXY protocol is for TCP services only; ignored", proto, port)
		case i == 0:
			s.DecodeProxyProtocol = true
		default:
			s.EncodeProxyProtocol = true
		}
	}
	svcKey := ns + "/" + name
	svc := b.services[nsName{ns, name}]
	if svc == nil {
		s.Unavailable = fmt.Sprintf("service %s not found", svcKey)
		b.warn(ref, ReasonServiceNotFound, "%s port %d: service %s not found; connections are closed", proto, port, svcKey)
		return s, true
	}
	var sp *corev1.ServicePort
	number, err := strconv.Atoi(s.ServicePort)
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if err == nil && int(p.Port) == number || err != nil && p.Name == s.ServicePort {
			sp = p
			break
		}
	}
	if sp == nil || cmp.Or(string(sp.Protocol), ProtocolTCP) != proto {
		s.Unavailable = fmt.Sprintf("%s port %q not found on service %s", proto, s.ServicePort, svcKey)
		b.warn(ref, ReasonPortNotFound, "%s port %d: %s port %q not found on service %s; connections are closed", proto, port, proto, s.ServicePort, svcKey)
		return s, true
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return b.externalStream(ref, s, svc, sp)
	}
	s.Endpoints = b.endpoints(b.slices[nsName{ns, name}], sp, corev1.Protocol(proto))
	if len(s.Endpoints) == 0 {
		s.Unavailable = "no ready endpoints"
		b.warn(ref, ReasonNoReadyEndpoints, "%s port %d: service %s port %q has no ready endpoints; connections are closed", proto, port, svcKey, s.ServicePort)
	}
	return s, true
}

// externalStream resolves the stream s to the ExternalName Service svc, as
// ingress-nginx does for stream services: one endpoint, the external name
// (resolved by DNS at each connection) on the target port of sp.
func (b *builder) externalStream(ref ObjectRef, s Stream, svc *corev1.Service, sp *corev1.ServicePort) (Stream, bool) {
	host, problem := externalName(svc)
	if problem == "" && (sp.TargetPort.IntValue() <= 0 || sp.TargetPort.IntValue() > 65535) {
		problem = "has no numeric target port"
	}
	if problem != "" {
		s.Unavailable = fmt.Sprintf("external name %q of service %s/%s %s", svc.Spec.ExternalName, svc.Namespace, svc.Name, problem)
		b.warn(ref, ReasonUnsupportedService, "%s port %d: %s; connections are closed", s.Protocol, s.Port, s.Unavailable)
		return s, true
	}
	s.Endpoints = []string{net.JoinHostPort(host, strconv.Itoa(sp.TargetPort.IntValue()))}
	return s, true
}

// externalName returns the name an ExternalName Service svc points to,
// lower case and without a trailing dot, or what is wrong with it: a
// loopback name or address ("localhost", 127.0.0.1) or a name that is not a
// DNS name is refused, as ingress-nginx refuses it, and so is an
// unspecified address (0.0.0.0, ::), which ingress-nginx lets through
// although a connection to it reaches the node itself as 127.0.0.1 does.
func externalName(svc *corev1.Service) (host, problem string) {
	host = strings.TrimSuffix(strings.ToLower(svc.Spec.ExternalName), ".")
	ip, ipErr := netip.ParseAddr(host)
	switch {
	case host == "localhost" || ipErr == nil && ip.IsLoopback():
		return "", "is a loopback address"
	case ipErr == nil && ip.IsUnspecified():
		return "", "is an unspecified address, which reaches this node as a loopback address does"
	case ipErr != nil && (!validHost(host) || strings.HasPrefix(host, "*.")):
		return "", "is not a DNS name"
	}
	return host, ""
}
