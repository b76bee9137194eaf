package annotations

import "fmt"

// The load-balance algorithms Weir implements.
const (
	// RoundRobin takes the endpoints in turn.
	RoundRobin = "round_robin"
	// EWMA picks the better of two random endpoints by their peak
	// exponentially weighted moving average of response time.
	EWMA = "ewma"
)

// loadBalanceMeta is the metadata table of the load-balance family.
var loadBalanceMeta = []Meta{
	{
		Key: "load-balance", Default: RoundRobin, ConfigMap: true,
		Doc:      "Balancing algorithm across the endpoints of a Service: `round_robin`, or `ewma` (the better of two random endpoints by their peak EWMA of response time, decaying over 10 s, as ingress-nginx's). Other values fall back to `round_robin` with a warning; `upstream-hash-by` and `affinity` take precedence. As in ingress-nginx, a Service port is one upstream: every Ingress routing there is balanced by the value of the oldest one (see [Settings per Service port](#settings-per-service-port)).",
		Validate: validateLoadBalance,
	},
}

func validateLoadBalance(v string) error {
	if v != RoundRobin && v != EWMA {
		return fmt.Errorf("must be %q or %q", RoundRobin, EWMA)
	}
	return nil
}

// parseLoadBalance applies the load-balance family to p. A rejected value
// leaves p.LoadBalance unchanged.
func parseLoadBalance(get lookup, p *Proxy, wrap func(key, value string, err error) error) []error {
	v, ok := get("load-balance")
	if !ok {
		return nil
	}
	if err := validateLoadBalance(v); err != nil {
		return []error{wrap("load-balance", v, err)}
	}
	p.LoadBalance = v
	return nil
}
