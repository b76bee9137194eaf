package annotations

import "time"

// Stream is the controller ConfigMap's settings of the TCP and UDP services
// (ingress-nginx's stream block, nginx.tmpl): proxy-stream-timeout,
// proxy-stream-next-upstream, proxy-stream-next-upstream-timeout,
// proxy-stream-next-upstream-tries and proxy-stream-responses. Every
// field's zero value means its default; the methods of Global return the
// effective values.
type Stream struct {
	// Timeout is proxy-stream-timeout: a stream with no byte moved in
	// either direction for this long is closed (nginx's proxy_timeout). 0
	// means the default, 600s.
	Timeout time.Duration `json:"timeout,omitempty"`
	// NextUpstreamOff is proxy-stream-next-upstream "false": a connection
	// whose endpoint fails is not passed to the next. Default false (on).
	NextUpstreamOff bool `json:"nextUpstreamOff,omitempty"`
	// NextUpstreamTimeout is proxy-stream-next-upstream-timeout: how long
	// passing a connection on to the next endpoints may take. 0 means the
	// default, 600s.
	NextUpstreamTimeout time.Duration `json:"nextUpstreamTimeout,omitempty"`
	// NextUpstreamTries is proxy-stream-next-upstream-tries: the most
	// endpoints tried per connection. Nil means the default, 3; 0 means
	// every endpoint, as nginx's 0 ("no limit").
	NextUpstreamTries *int `json:"nextUpstreamTries,omitempty"`
	// Responses is proxy-stream-responses: the datagrams a UDP client
	// expects per datagram it sent; once they came, its session ends. Nil
	// means the default, 1; 0 means the session lasts until Timeout.
	Responses *int `json:"responses,omitempty"`
}

// Defaults of the stream settings.
const (
	DefaultStreamTimeout             = 600 * time.Second
	DefaultStreamNextUpstreamTimeout = 600 * time.Second
	DefaultStreamNextUpstreamTries   = 3
	DefaultStreamResponses           = 1
)

var streamMeta = []Meta{
	{
		Key: "proxy-stream-timeout", Default: "600s", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "A TCP or UDP service stream with no byte moved in either direction for this long is closed (nginx's `proxy_timeout`; nginx time syntax). Weir measures it within an eighth of its value.",
		Validate: func(v string) error { _, err := parseNginxTime(v); return err },
	},
	{
		Key: "proxy-stream-next-upstream", Default: "true", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"`: a TCP service connection whose endpoint refuses or does not answer within 60 s goes to the next endpoint (nginx's `proxy_next_upstream`).",
		Validate: validateConfigBool,
	},
	{
		Key: "proxy-stream-next-upstream-timeout", Default: "600s", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "How long passing a TCP service connection on to the next endpoints may take in all.",
		Validate: func(v string) error { _, err := parseNginxTime(v); return err },
	},
	{
		Key: "proxy-stream-next-upstream-tries", Default: "3", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "The most endpoints tried per TCP service connection, each once; `\"0\"`: every endpoint.",
		Validate: validateConfigCount,
	},
	{
		Key: "proxy-stream-responses", Default: "1", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Datagrams a UDP service client expects per datagram it sent: once they came, its session (and its upstream socket) ends; `\"0\"`: a session ends after `proxy-stream-timeout` of silence.",
		Validate: func(v string) error { _, err := parseStreamResponses(v); return err },
	},
}

// parseStream reads the proxy-stream-* keys of data into s.
func parseStream(data map[string]string, s *Stream, wrap func(key, value string, err error)) {
	count := func(key string, dst **int) {
		globalKey(data, key, configCount, wrap, func(n int) { *dst = &n })
	}
	globalKey(data, "proxy-stream-timeout", parseNginxTime, wrap, func(d time.Duration) { s.Timeout = d })
	globalKey(data, "proxy-stream-next-upstream", configBool, wrap, func(b bool) { s.NextUpstreamOff = !b })
	globalKey(data, "proxy-stream-next-upstream-timeout", parseNginxTime, wrap, func(d time.Duration) { s.NextUpstreamTimeout = d })
	count("proxy-stream-next-upstream-tries", &s.NextUpstreamTries)
	globalKey(data, "proxy-stream-responses", parseStreamResponses, wrap, func(n int) { s.Responses = &n })
}

// StreamTimeout returns proxy-stream-timeout (default 600s).
func (g Global) StreamTimeout() time.Duration {
	if g.Stream.Timeout == 0 {
		return DefaultStreamTimeout
	}
	return g.Stream.Timeout
}

// StreamNextUpstream returns proxy-stream-next-upstream (default true).
func (g Global) StreamNextUpstream() bool { return !g.Stream.NextUpstreamOff }

// StreamNextUpstreamTimeout returns proxy-stream-next-upstream-timeout
// (default 600s).
func (g Global) StreamNextUpstreamTimeout() time.Duration {
	if g.Stream.NextUpstreamTimeout == 0 {
		return DefaultStreamNextUpstreamTimeout
	}
	return g.Stream.NextUpstreamTimeout
}

// StreamNextUpstreamTries returns proxy-stream-next-upstream-tries
// (default 3; 0: every endpoint).
func (g Global) StreamNextUpstreamTries() int {
	if g.Stream.NextUpstreamTries == nil {
		return DefaultStreamNextUpstreamTries
	}
	return *g.Stream.NextUpstreamTries
}

// StreamResponses returns proxy-stream-responses (default 1; 0: a session
// ends when idle).
func (g Global) StreamResponses() int {
	if g.Stream.Responses == nil {
		return DefaultStreamResponses
	}
	return *g.Stream.Responses
}

// parseStreamResponses reads proxy-stream-responses as ReadConfig reads it
// by hand (configAtoi: "+2" is 2, "0x2" and "" are refused), from 0.
func parseStreamResponses(v string) (int, error) {
	return configRange(configAtoi, v, 0, maxSeconds, "a non-negative integer")
}
