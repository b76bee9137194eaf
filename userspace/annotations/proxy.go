// Package annotations parses the nginx.ingress.kubernetes.io/* annotations of
// an Ingress into typed configuration. It is the only place in Weir that reads
// annotation strings; one small parser per annotation family, each with a
// metadata table from which the README's annotation table is generated.
package annotations

// Prefix is the prefix of every annotation Weir reads, as in ingress-nginx.
const Prefix = "nginx.ingress.kubernetes.io/"

// Proxy is the typed configuration of the proxy family of annotations, per
// Ingress. Global defaults come from the controller ConfigMap's keys of the
// same names.
type Proxy struct {
	// ConnectTimeoutSeconds bounds establishing the upstream connection
	// (proxy-connect-timeout). Default 5.
	ConnectTimeoutSeconds int `json:"connectTimeoutSeconds"`
	// ReadTimeoutSeconds bounds the wait between two successive reads from
	// the upstream, the response header included (proxy-read-timeout).
	// Default 60.
	ReadTimeoutSeconds int `json:"readTimeoutSeconds"`
	// SendTimeoutSeconds bounds the wait between two successive writes to
	// the upstream (proxy-send-timeout). Default 60.
	SendTimeoutSeconds int `json:"sendTimeoutSeconds"`
	// BodySizeBytes is the largest request body accepted; larger gets 413
	// (proxy-body-size, "1m"). 0 means unlimited. Default 1048576.
	BodySizeBytes int64 `json:"bodySizeBytes"`
	// LoadBalance is the balancing algorithm (load-balance). Only
	// "round_robin" is supported. Default "round_robin".
	LoadBalance string `json:"loadBalance"`
}

// DefaultProxy returns the defaults documented on Proxy.
func DefaultProxy() Proxy {
	return Proxy{
		ConnectTimeoutSeconds: 5,
		ReadTimeoutSeconds:    60,
		SendTimeoutSeconds:    60,
		BodySizeBytes:         1 << 20,
		LoadBalance:           "round_robin",
	}
}
