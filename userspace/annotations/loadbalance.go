package annotations

import "fmt"

// RoundRobin is the only load-balance algorithm Weir implements.
const RoundRobin = "round_robin"

// loadBalanceMeta is the metadata table of the load-balance family.
var loadBalanceMeta = []Meta{
	{
		Key: "load-balance", Default: RoundRobin, ConfigMap: true,
		Doc:      "Balancing algorithm across the endpoints of a Service. Only `round_robin` is supported; other values (e.g. `ewma`) fall back to it with a warning.",
		Validate: validateLoadBalance,
	},
}

func validateLoadBalance(v string) error {
	if v != RoundRobin {
		return fmt.Errorf("only %q is supported", RoundRobin)
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
