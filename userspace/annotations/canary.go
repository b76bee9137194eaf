package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DefaultCanaryWeightTotal is the default of canary-weight-total.
const DefaultCanaryWeightTotal = 100

// Canary is the typed configuration of the canary family of one Ingress.
// The zero value is "not a canary".
type Canary struct {
	// Enabled is canary: "true": the Ingress does not route by itself but
	// attaches its backends to the non-canary rules with the same host,
	// path and path type. Default false; when false every other field is
	// zero.
	Enabled bool `json:"enabled,omitempty"`
	// Header is canary-by-header: the request header (any case) that
	// selects the canary. Empty means none. Default "".
	Header string `json:"header,omitempty"`
	// HeaderValue is canary-by-header-value: the exact value of Header that
	// selects the canary; any other value falls through to the cookie.
	// Empty means "always"/"never" (or HeaderPattern) decide. Default "".
	HeaderValue string `json:"headerValue,omitempty"`
	// HeaderPattern is canary-by-header-pattern: a Go regular expression,
	// not anchored, that selects the canary when Header matches it; used
	// only when HeaderValue is empty. An invalid pattern is kept (and
	// reported): a request carrying Header then goes to the main backend.
	// Default "".
	HeaderPattern string `json:"headerPattern,omitempty"`
	// Cookie is canary-by-cookie: the cookie whose value "always" or
	// "never" selects or excludes the canary. Empty means none. Default "".
	Cookie string `json:"cookie,omitempty"`
	// Weight is canary-weight: the share of the remaining requests, out of
	// WeightTotal (100 when WeightTotal is below 100, as ingress-nginx's
	// balancer.lua), sent to the canary; clamped to [0, that total].
	// Default 0.
	Weight int `json:"weight,omitempty"`
	// WeightTotal is canary-weight-total, at least 1; a total below 100
	// counts as 100. Default 100.
	WeightTotal int `json:"weightTotal,omitempty"`
}

// canaryMeta is the metadata table of the canary family.
var canaryMeta = []Meta{
	{
		Key: "canary", Default: "false",
		Doc:      "`\"true\"` makes the Ingress a canary of the non-canary rules with the same host, path and path type; it never routes by itself. See [Canary releases](#canary-releases).",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
	{
		Key: "canary-by-header", Default: "",
		Doc:      "Request header (any case, `-` and `_` alike, as nginx's `$http_` variable) that routes to the canary: `always` → canary, `never` → main, other values → next rule.",
		Validate: validateToken,
	},
	{
		Key: "canary-by-header-value", Default: "",
		Doc:      "Exact value of `canary-by-header` that routes to the canary; any other value → next rule. Letters, digits, spaces and `-._~/:` only, as ingress-nginx; another value is ignored with a warning (the header then routes by `always` and `never`).",
		Validate: validateCanaryHeaderValue,
	},
	{
		Key: "canary-by-header-pattern", Default: "",
		Doc:      "Regular expression (Go syntax, not anchored) that `canary-by-header` must match to route to the canary; ignored when `canary-by-header-value` is set. An invalid pattern sends requests with the header to the main backend.",
		Validate: validatePattern,
	},
	{
		Key: "canary-by-cookie", Default: "",
		Doc:      "Cookie whose value `always` routes to the canary and `never` to the main backend; other values → weight. Read as nginx's `$cookie_<name>`: the name in any case, the value exactly as sent.",
		Validate: validateToken,
	},
	{
		Key: "canary-weight", Default: "0",
		Doc:      "Integer share of the requests, out of `canary-weight-total`, routed to the canary when no header or cookie decided.",
		Validate: func(v string) error { _, err := parseInt(v); return err },
	},
	{
		Key: "canary-weight-total", Default: "100",
		Doc:      "Total that `canary-weight` is a share of; a positive integer. A total below 100 counts as 100, as in ingress-nginx's balancer.",
		Validate: validateWeightTotal,
	},
}

// canaryKeys are the canary annotations that need canary: "true".
var canaryKeys = []string{
	"canary-by-header", "canary-by-header-value", "canary-by-header-pattern",
	"canary-by-cookie", "canary-weight", "canary-weight-total",
}

func parseInt(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, errors.New("must be an integer")
	}
	return n, nil
}

// validateCanaryHeaderValue accepts what ingress-nginx's
// parser.BasicCharsRegex accepts once spaces are removed: letters, digits
// and "-._~/:".
func validateCanaryHeaderValue(v string) error {
	if err := spacedCharsIn(v, cookieNameChars); err != nil {
		return fmt.Errorf("%w; ignored", err)
	}
	return nil
}

// validateToken accepts "" (none) or an HTTP token, the syntax of header
// and cookie names.
func validateToken(v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return errors.New("is not a valid header or cookie name; ignored")
		}
	}
	return nil
}

func validatePattern(v string) error {
	if _, err := regexp.Compile(v); err != nil {
		return fmt.Errorf("invalid regular expression (%v); requests with the header go to the main backend", err)
	}
	return nil
}

func validateWeightTotal(v string) error {
	n, err := parseInt(v)
	if err != nil {
		return err
	}
	if n <= 0 {
		return errors.New("must be positive")
	}
	return nil
}

// parseCanary applies the canary family to c. Canary annotations without
// canary: "true" are rejected and leave c zero. An invalid weight is
// rejected (weight 0), an out-of-range one clamped; an invalid pattern is
// reported but kept.
func parseCanary(get lookup, c *Canary, wrap func(key, value string, err error) error) []error {
	var errs []error
	enabled := false
	if v, ok := get("canary"); ok {
		b, err := parseBool(v)
		if err != nil {
			errs = append(errs, wrap("canary", v, err))
		}
		enabled = b
	}
	if !enabled {
		// As ingress-nginx, only a setting that would do something is
		// reported: a weight that is not 0, a non-empty header, value,
		// pattern or cookie. canary-weight-total alone is not.
		for _, k := range canaryKeys {
			v, ok := get(k)
			if !ok || k == "canary-weight-total" || strings.TrimSpace(v) == "" {
				continue
			}
			if n, err := parseInt(v); k == "canary-weight" && err == nil && n == 0 {
				continue
			}
			errs = append(errs, wrap(k, v, errors.New(`requires nginx.ingress.kubernetes.io/canary: "true"; ignored`)))
		}
		return errs
	}
	*c = Canary{Enabled: true, WeightTotal: DefaultCanaryWeightTotal}
	for key, dst := range map[string]*string{"canary-by-header": &c.Header, "canary-by-cookie": &c.Cookie} {
		if v, ok := get(key); ok {
			if err := validateToken(v); err != nil {
				errs = append(errs, wrap(key, v, err))
			} else {
				*dst = v
			}
		}
	}
	if v, ok := get("canary-by-header-value"); ok {
		if err := validateCanaryHeaderValue(v); err != nil {
			errs = append(errs, wrap("canary-by-header-value", v, err))
		} else {
			c.HeaderValue = strings.TrimSpace(v)
		}
	}
	if v, ok := get("canary-by-header-pattern"); ok {
		c.HeaderPattern = v
		if err := validatePattern(v); err != nil {
			errs = append(errs, wrap("canary-by-header-pattern", v, err))
		}
	}
	if v, ok := get("canary-weight-total"); ok {
		if err := validateWeightTotal(v); err != nil {
			errs = append(errs, wrap("canary-weight-total", v, fmt.Errorf("%w; %d used", err, DefaultCanaryWeightTotal)))
		} else {
			c.WeightTotal, _ = parseInt(v)
		}
	}
	if v, ok := get("canary-weight"); ok {
		// ingress-nginx's balancer.lua draws out of canary-weight-total
		// only when it is above 100: a smaller total counts as 100.
		total := max(c.WeightTotal, DefaultCanaryWeightTotal)
		n, err := parseInt(v)
		switch {
		case err != nil:
			errs = append(errs, wrap("canary-weight", v, fmt.Errorf("%w; 0 used", err)))
		case n < 0:
			errs = append(errs, wrap("canary-weight", v, errors.New("is negative; 0 used")))
		case n > total:
			errs = append(errs, wrap("canary-weight", v, fmt.Errorf("exceeds canary-weight-total %d; clamped to it", total)))
			c.Weight = total
		default:
			c.Weight = n
		}
	}
	return errs
}

// CanaryEnabled reports whether ann marks its Ingress a canary
// (canary: "true"), as Parse's Config.Canary.Enabled does: a value that
// does not parse is false. It returns false for a nil map.
func CanaryEnabled(ann map[string]string) bool {
	v, ok := ann[Prefix+"canary"]
	if !ok {
		return false
	}
	b, _ := parseBool(v) // false when invalid, as parseCanary
	return b
}

// CanaryIgnored returns, sorted, the annotations of ann (full names) that
// Weir reads but ignores on a canary Ingress, whose settings come from the
// main rule instead: every known annotation except the canary family,
// load-balance, upstream-hash-by*, service-upstream and
// affinity-canary-behavior, which the canary's upstream takes from its own
// Ingress as in ingress-nginx. affinity, affinity-mode and session-cookie-*
// are ignored even with affinity-canary-behavior "legacy": ingress-nginx
// gives an upstream only canaries route to no affinity of theirs. It
// returns nil for a nil map.
func CanaryIgnored(ann map[string]string) []string {
	var out []string
	for k := range ann {
		key, ok := strings.CutPrefix(k, Prefix)
		if !ok || !isKnown(key) || key == "canary" || strings.HasPrefix(key, "canary-") || key == "load-balance" ||
			strings.HasPrefix(key, "upstream-hash-by") || key == "service-upstream" || key == "affinity-canary-behavior" {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
