package annotations

// RateLimit is limit-rps and limit-rpm with limit-burst-multiplier and the
// allowlist: nginx's limit_req, as ingress-nginx generates it, a leaky
// bucket per client address (after the real-IP rules) in a zone per
// Ingress and per rate ("limit_req zone=<ns>_<name>_<uid>_rps
// burst=<rps*multiplier> nodelay", the same for rpm), checked for every
// worker of the node. A request past either gets the ConfigMap's
// limit-req-status-code (503).
type RateLimit struct {
	// RPS is limit-rps: requests per second per client address. 0 means
	// none.
	RPS int `json:"rps,omitempty"`
	// RPM is limit-rpm: requests per minute per client address. 0 means
	// none.
	RPM int `json:"rpm,omitempty"`
	// BurstMultiplier is limit-burst-multiplier: the burst of each zone is
	// its rate times this. Default 5.
	BurstMultiplier int `json:"burstMultiplier"`
	// Allowlist is limit-allowlist, else limit-whitelist, shared with
	// ConnLimit. Nil means none.
	Allowlist []string `json:"allowlist,omitempty"`
}

// DefaultBurstMultiplier is limit-burst-multiplier's default.
const DefaultBurstMultiplier = 5

// rateLimitMeta is the metadata table of the limit-rps family and of
// limit-rate.
var rateLimitMeta = []Meta{
	{
		Key: "limit-rps", Default: "0",
		Doc:      "Requests per second allowed from one client address to the routes of the Ingress, with a burst of `limit-rps` × `limit-burst-multiplier` served without delay (nginx's `limit_req ... nodelay`, a leaky bucket), counted across every worker of the node; more get `limit-req-status-code` (503). `\"0\"` means no limit. An invalid value sets no limit, with a warning.",
		Validate: func(v string) error { _, err := parseCount(v); return err },
	},
	{
		Key: "limit-rpm", Default: "0",
		Doc:      "Requests per minute, as `limit-rps` (a zone of its own; a request must pass both).",
		Validate: func(v string) error { _, err := parseCount(v); return err },
	},
	{
		Key: "limit-burst-multiplier", Default: "5",
		Doc:      "Multiplier of `limit-rps` and `limit-rpm` giving each zone's burst. An invalid value is 5, with a warning.",
		Validate: func(v string) error { _, err := parseCount(v); return err },
	},
	{
		Key: "limit-rate", Default: "0", ConfigMap: true,
		Doc:               "Bandwidth of each response to the client, its head counted as nginx counts it, in KiB per second (ingress-nginx writes `limit_rate <n>k`, whatever its docs say of bytes), per request as nginx's `limit_rate`; only with `proxy-buffering` `on`, as nginx paces no unbuffered response (ingress-nginx's docs say so too). `\"0\"` means none.",
		Validate:          func(v string) error { _, err := parseCount(v); return err },
		ValidateConfigMap: validateConfigCount,
	},
	{
		Key: "limit-rate-after", Default: "0", ConfigMap: true,
		Doc:               "KiB of each response, its head counted, sent at full speed before `limit-rate` applies (nginx's `limit_rate_after <n>k`).",
		Validate:          func(v string) error { _, err := parseCount(v); return err },
		ValidateConfigMap: validateConfigCount,
	},
}

// parseRateLimit reads limit-rps, limit-rpm and limit-burst-multiplier
// into dst (nil: no limit). The allowlist is read again, silently:
// parseConnLimit reports it.
func parseRateLimit(get lookup, dst **RateLimit, wrap func(key, value string, err error) error) []error {
	var rps, rpm int
	mult := DefaultBurstMultiplier
	errs := joinErrs(
		setParsed(get, wrap, "limit-rps", parseCount, &rps),
		setParsed(get, wrap, "limit-rpm", parseCount, &rpm),
		setParsed(get, wrap, "limit-burst-multiplier", parseCount, &mult),
	)
	if rps > 0 || rpm > 0 {
		allow, _ := limitAllowlist(get, func(string, string, error) error { return nil })
		*dst = &RateLimit{RPS: rps, RPM: rpm, BurstMultiplier: mult, Allowlist: allow}
	}
	return errs
}

// parseLimitRate reads limit-rate and limit-rate-after into p, by count
// (parseCount for annotations, configCount for the ConfigMap).
func parseLimitRate(get lookup, p *Proxy, wrap func(key, value string, err error) error, count func(string) (int, error)) []error {
	return joinErrs(
		setParsed(get, wrap, "limit-rate", count, &p.LimitRateKiB),
		setParsed(get, wrap, "limit-rate-after", count, &p.LimitRateAfterKiB),
	)
}
