package annotations

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// This file is ingress-nginx's verdict on a whole Ingress from its
// annotations alone (internal/ingress/annotations/annotations.go Extract,
// parser/validators.go, every parser's table and Parse, and
// controller/store/store.go checkBadAnnotationValue): the Ingresses it does
// not serve at all. Weir reads its own annotations with its own rules
// (meta.go); this table only decides, as ingress-nginx would, that an
// Ingress is refused. It lists every nginx.ingress.kubernetes.io/*
// annotation ingress-nginx reads, those Weir does not implement included.

// Risk is ingress-nginx's risk level of an annotation, and the
// annotations-risk-level of its ConfigMap: an annotation whose risk is above
// the level refuses the Ingress that sets it.
type Risk int

// The risk levels, lowest first.
const (
	RiskLow Risk = iota
	RiskMedium
	RiskHigh
	RiskCritical
)

// DefaultRisk is the annotations-risk-level default: High, so that only
// the Critical annotations (the snippets) refuse an Ingress.
const DefaultRisk = RiskHigh

// String returns the level as the ConfigMap spells it ("High").
func (r Risk) String() string {
	switch r {
	case RiskLow:
		return "Low"
	case RiskMedium:
		return "Medium"
	case RiskHigh:
		return "High"
	case RiskCritical:
		return "Critical"
	}
	return "Unknown"
}

// ParseRisk reads an annotations-risk-level value as ingress-nginx's
// StringRiskToRisk does: Critical, High or Medium in any case; anything
// else, an empty or misspelt value included, is Low (the strictest). ok is
// false when the value is not one of the four names, so that the caller can
// warn.
func ParseRisk(s string) (r Risk, ok bool) {
	switch strings.ToLower(s) {
	case "critical":
		return RiskCritical, true
	case "high":
		return RiskHigh, true
	case "medium":
		return RiskMedium, true
	case "low":
		return RiskLow, true
	}
	return RiskLow, false
}

// RefusalPolicy is what Refusal refuses by: the controller ConfigMap's
// settings and the --enable-annotation-validation flag.
type RefusalPolicy struct {
	// Level is annotations-risk-level. Default High (DefaultRisk).
	Level Risk
	// Validate runs ingress-nginx's validators (its
	// --enable-annotation-validation). Default true in DefaultRefusalPolicy.
	Validate bool
	// Blocklist is annotation-value-word-blocklist as written in the
	// ConfigMap; "" (the default) means none.
	Blocklist string
}

// DefaultRefusalPolicy returns ingress-nginx's defaults: level High,
// validation on, no blocklist.
func DefaultRefusalPolicy() RefusalPolicy {
	return RefusalPolicy{Level: DefaultRisk, Validate: true}
}

// RefusalPolicyFrom reads annotations-risk-level and
// annotation-value-word-blocklist from the controller ConfigMap's data (nil:
// none) over the defaults, with validate the --enable-annotation-validation
// flag. A risk level that is not Low, Medium, High or Critical applies Low,
// as in ingress-nginx, and is returned as an *Error.
func RefusalPolicyFrom(data map[string]string, validate bool) (RefusalPolicy, []error) {
	p := DefaultRefusalPolicy()
	p.Validate = validate
	p.Blocklist = data["annotation-value-word-blocklist"]
	v, ok := data["annotations-risk-level"]
	if !ok {
		return p, nil
	}
	var known bool
	p.Level, known = ParseRisk(v)
	if !known {
		return p, []error{&Error{Annotation: "annotations-risk-level", Value: v, ConfigMap: true, Err: ErrRiskLevel}}
	}
	return p, nil
}

// ErrRiskLevel marks an annotations-risk-level that is not one of the four
// levels: Low applies, as in ingress-nginx.
var ErrRiskLevel = errors.New("not Low, Medium, High or Critical: Low applies, as in ingress-nginx")

// refusalMeta is the metadata table of the ConfigMap keys of Refusal.
var refusalMeta = []Meta{
	{
		Key: "annotations-risk-level", Default: "High", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "The riskiest annotation an Ingress may set (Low, Medium, High or Critical, any case; another value is Low, as in ingress-nginx): an Ingress setting a riskier one is not served. At the default High, that is an Ingress with a snippet; at Critical, snippets are allowed (and never applied).",
		Validate: func(v string) error { _, ok := ParseRisk(v); return errIf(!ok, ErrRiskLevel) },
	},
	{
		Key: "annotation-value-word-blocklist", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Comma-separated words: an Ingress with a nginx.ingress.kubernetes.io/* annotation whose value contains one is not served. The list is trimmed and split at commas, the words are not trimmed, as in ingress-nginx.",
		Validate: func(string) error { return nil },
	},
}

// errIf returns err when cond holds, else nil.
func errIf(cond bool, err error) error {
	if cond {
		return err
	}
	return nil
}

// Refusal returns nil when ingress-nginx serves an Ingress with the
// annotations ann under p, else the reason it does not, in ingress-nginx's
// words: a blocklisted word in a nginx.ingress.kubernetes.io/* value ("X
// annotation contains invalid word W"), an annotation riskier than p.Level
// ("annotation group G contains risky annotation based on ingress
// configuration"), or, with p.Validate, a value its validator rejects where
// its parser does not fall back to a default ("annotation X contains invalid
// value"). Where ingress-nginx stops at the first of several reasons in map
// order, Refusal takes the groups in name order: the reason may differ, the
// verdict does not.
//
// It reads the annotations only. ingress-nginx validates auth-realm only
// once the auth-secret Secret is found, the auth-tls ones after
// auth-tls-secret only once its certificate is, and refuses a
// fastcgi-params-configmap ConfigMap holding invalid text: Refusal assumes
// the Secrets are there and ignores the ConfigMap's content (Weir does not
// proxy FastCGI).
func Refusal(ann map[string]string, p RefusalPolicy) error {
	if err := blocklisted(ann, p.Blocklist); err != nil {
		return err
	}
	// One pass over ann: the groups with an annotation above the level,
	// and those with an annotation to parse. Serves calls Refusal for
	// every Ingress at every build; most set a few annotations that no
	// parser refuses.
	var risky, present uint64
	for k := range ann {
		pure, prefixed := strings.CutPrefix(k, Prefix)
		g, ok := nginxKeys[pure]
		if !ok {
			continue
		}
		if g.risk > p.Level {
			risky |= 1 << g.group
		}
		if prefixed {
			present |= 1 << g.group
		}
	}
	if risky|present == 0 {
		return nil
	}
	r := annReader{ann: ann, validate: p.Validate}
	for i := range nginxGroups {
		g, bit := &nginxGroups[i], uint64(1)<<i
		if risky&bit != 0 {
			return fmt.Errorf("annotation group %s contains risky annotation based on ingress configuration", g.name)
		}
		if present&bit == 0 || g.parse == nil {
			continue // a parser reading no annotation returns no validation error
		}
		if err := g.parse(r); isInvalid(err) {
			return err
		}
	}
	return nil
}

// blocklisted is ingress-nginx's checkBadAnnotationValue: the words are
// the blocklist, trimmed, split at commas and not trimmed again (so "a, b"
// holds " b"; an empty word, as in "a,", is in every value).
func blocklisted(ann map[string]string, blocklist string) error {
	if blocklist == "" {
		return nil
	}
	words := strings.Split(strings.TrimSpace(blocklist), ",")
	keys := make([]string, 0, len(ann))
	for k := range ann {
		if strings.HasPrefix(k, Prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // ingress-nginx's first is random; Weir's is stable
	for _, k := range keys {
		for _, w := range words {
			if strings.Contains(ann[k], w) {
				return fmt.Errorf("%s annotation contains invalid word %s", k, w)
			}
		}
	}
	return nil
}

// nginxGroup is one of ingress-nginx's annotation parsers: its name in
// NewAnnotationFactory (named by the risky-annotation message), its table
// and, for the parsers that can refuse an Ingress over a value, what its
// Parse reads and returns.
type nginxGroup struct {
	name    string
	entries []nginxEntry
	// parse returns what ingress-nginx's Parse would, as far as the
	// verdict goes: an *invalidValueError refuses the Ingress, any other
	// error or nil does not. Nil: the parser never returns a validation
	// error (it falls back to defaults or denies the location).
	parse func(annReader) error
}

// nginxEntry is one row of an ingress-nginx parser's table.
type nginxEntry struct {
	key      string
	validate func(string) error
	risk     Risk
	aliases  []string
	// full is the key then the aliases with Prefix (init): reads do not
	// build the names.
	full []string
}

// The errors of annReader, as ingress-nginx's: missing, invalid content
// (a value that does not parse), and a validation error, which alone
// refuses an Ingress.
var (
	errMissing = errors.New("ingress rule without annotations")
	errContent = errors.New("the annotation does not contain a valid value")
	// errDenied stands for the other errors of a Parse (a location denied,
	// an unreadable name): the Ingress is served.
	errDenied = errors.New("location denied")
)

// invalidValueError is ingress-nginx's ValidationError.
type invalidValueError struct{ annotation string }

func (e *invalidValueError) Error() string {
	return fmt.Sprintf("annotation %s contains invalid value", e.annotation)
}

// isInvalid reports whether err is a validation error (annReader's are
// never wrapped).
func isInvalid(err error) bool {
	_, ok := err.(*invalidValueError)
	return ok
}

// annReader reads annotations as ingress-nginx's parser package does
// (GetStringAnnotation and its kin over checkAnnotation).
type annReader struct {
	ann      map[string]string
	validate bool
}

// check is ingress-nginx's checkAnnotation: the full name to read (an
// alias's when the key's value is empty and the alias's is not), after the
// key's validator accepted a non-empty value.
func (r annReader) check(key string) (string, error) {
	if len(r.ann) == 0 {
		return "", errMissing
	}
	e := nginxEntries[key] // every key read has an entry: TestNginxGroupsRead
	full := e.full[0]
	v := r.ann[full]
	if v == "" {
		for _, a := range e.full[1:] {
			if av := r.ann[a]; av != "" {
				full, v = a, av
				break
			}
		}
	}
	if r.validate && v != "" && e.validate(v) != nil {
		return "", &invalidValueError{annotation: full}
	}
	return full, nil
}

// str is GetStringAnnotation: the value with each line trimmed, which must
// not be empty.
func (r annReader) str(key string) (string, error) {
	full, err := r.check(key)
	if err != nil {
		return "", err
	}
	v, ok := r.ann[full]
	if !ok {
		return "", errMissing
	}
	s := strings.TrimSpace(v)
	if strings.Contains(v, "\n") { // each line, without allocating for the usual one
		lines := strings.Split(v, "\n")
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		s = strings.Join(lines, "\n")
	}
	if s == "" {
		return "", errContent
	}
	return s, nil
}

// boolean is GetBoolAnnotation.
func (r annReader) boolean(key string) (bool, error) {
	full, err := r.check(key)
	if err != nil {
		return false, err
	}
	v, ok := r.ann[full]
	if !ok {
		return false, errMissing
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errContent
	}
	return b, nil
}

// integer is GetIntAnnotation.
func (r annReader) integer(key string) (int, error) {
	full, err := r.check(key)
	if err != nil {
		return 0, err
	}
	v, ok := r.ann[full]
	if !ok {
		return 0, errMissing
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		return 0, errContent
	}
	return i, nil
}

// notMissing returns err unless it is errMissing: the parsers that return
// every error but a missing annotation.
func notMissing(err error) error {
	if errors.Is(err, errMissing) {
		return nil
	}
	return err
}

// onlyInvalid returns err when it is a validation error, else nil: the
// parsers that fall back to a default on the other errors.
func onlyInvalid(err error) error {
	if isInvalid(err) {
		return err
	}
	return nil
}

// firstInvalid reads keys in order with read and returns the first
// validation error.
func firstInvalid[T any](r annReader, read func(annReader, string) (T, error), keys ...string) error {
	for _, k := range keys {
		if _, err := read(r, k); isInvalid(err) {
			return err
		}
	}
	return nil
}

// readStr returns one Get*Annotation's error: a parser whose Parse is
// `return parser.GetStringAnnotation(key, ...)` or the like.
func readStr(key string) func(annReader) error {
	return func(r annReader) error { _, err := r.str(key); return err }
}

func readBool(key string) func(annReader) error {
	return func(r annReader) error { _, err := r.boolean(key); return err }
}

// ingress-nginx's validator building blocks (parser/validators.go): the
// texts are its own, for the same verdicts.
var (
	alphaNumericChars    = `\-\.\_\~a-zA-Z0-9\/:`
	extendedAlphaNumeric = alphaNumericChars + ", "
	regexEnabledChars    = regexp.QuoteMeta(`^$[](){}*+?|&=\`)
	urlEnabledChars      = regexp.QuoteMeta(`,:?&=`)

	nginxIsValidRegex          = regexp.MustCompile("^[/" + alphaNumericChars + regexEnabledChars + "]*$")
	nginxSizeRegex             = regexp.MustCompile(`^(?i)\d+[bkmg]?$`)
	nginxURLIsValidRegex       = regexp.MustCompile("^[" + alphaNumericChars + urlEnabledChars + "]*$")
	nginxBasicCharsRegex       = regexp.MustCompile("^[/" + alphaNumericChars + "]*$")
	nginxExtendedCharsRegex    = regexp.MustCompile("^[/" + extendedAlphaNumeric + "]*$")
	nginxCharsWithSpace        = regexp.MustCompile("^[/" + alphaNumericChars + " ]*$")
	nginxVariable              = regexp.MustCompile(`^[A-Za-z0-9\-\_\$\{\}]*$`)
	nginxRegexPathWithCapture  = regexp.MustCompile(`^/?[` + alphaNumericChars + `\/\$]*$`)
	nginxHeadersVariable       = regexp.MustCompile(`^[A-Za-z0-9-_, ]*$`)
	nginxURLWithNginxVariable  = regexp.MustCompile("^[" + extendedAlphaNumeric + urlEnabledChars + "$]*$")
	nginxMaliciousRegex        = regexp.MustCompile(`\r|\n`)
	nginxAuthTypeRegex         = regexp.MustCompile(`basic|digest`)
	nginxAuthSecretTypeRegex   = regexp.MustCompile(`auth-file|auth-map`)
	nginxAuthVerifyClientRegex = regexp.MustCompile(`^(on|off|optional|optional_no_ca)$`)
	nginxConnectionHeader      = regexp.MustCompile(`^(close|keep-alive)$`)
	nginxCORSOriginValidator   = regexp.MustCompile(`^((((([a-z]+://)?(\*\.)?[A-Za-z0-9\-.]*(:\d+)?,?)|null)+)|\*)?$`)
	nginxFastCGIIndex          = regexp.MustCompile(`^[A-Za-z0-9.\-\_]+$`)
	nginxOnOffRegex            = regexp.MustCompile(`^(on|off)$`)
	nginxOperationName         = regexp.MustCompile(`^[A-Za-z0-9_\-]*$`)
	nginxUpstreamNext          = regexp.MustCompile(`^((error|timeout|invalid_header|http_500|http_502|http_503|http_504|http_403|http_404|http_429|non_idempotent|off)\s?)+$`)
	nginxCookieDomain          = regexp.MustCompile(`^(off|[` + alphaNumericChars + `]+\s+[` + alphaNumericChars + `]+)$`)
	nginxAffinityCookieExpires = regexp.MustCompile(`(^0|-?[1-9]\d*$)`)
	nginxProxySSLCiphers       = regexp.MustCompile(`^[A-Za-z0-9\+:\_\-!]*$`)
	nginxSSLCipher             = regexp.MustCompile(`^(?:(?:[A-Za-z0-9!:+\-_])*(?:@STRENGTH)*(?:@SECLEVEL=[0-5])*(?:@STRENGTH)*)*$`)
	nginxHashBy                = regexp.MustCompilePOSIX(`^[A-Za-z0-9\-` + regexp.QuoteMeta("_${}") + `]*$`)
	// Identical texts Weir compiles already: auth-tls-error-page's
	// (errorPageRegex), custom-http-errors' (httpErrorsRe),
	// proxy-ssl-protocols' (protocolRe), auth-method's (methodRe) and the
	// CORS methods' and exposed headers' (corsMethodsRegex, corsExposeRegex).
)

// ingress-nginx's option lists.
var (
	nginxLoadBalanceAlgorithms = []string{"round_robin", "chash", "chashsubset", "sticky_balanced", "sticky_persistent", "ewma"}
	nginxBackendProtocols      = []string{"auto_http", "http", "https", "grpc", "grpcs", "fcgi"}
)

// validRegex is ingress-nginx's ValidateRegex: the value, without its
// spaces when removeSpace, must match re and hold no CR or LF.
func validRegex(re *regexp.Regexp, removeSpace bool) func(string) error {
	return func(s string) error {
		if removeSpace {
			s = strings.ReplaceAll(s, " ", "")
		}
		if !re.MatchString(s) {
			return fmt.Errorf("value %s is invalid", s)
		}
		if nginxMaliciousRegex.MatchString(s) {
			return fmt.Errorf("value %s contains malicious string", s)
		}
		return nil
	}
}

// validOptions is ingress-nginx's ValidateOptions.
func validOptions(options []string, caseSensitive, trimSpace bool) func(string) error {
	return func(s string) error {
		if trimSpace {
			s = strings.TrimSpace(s)
		}
		if !caseSensitive {
			s = strings.ToLower(s)
		}
		if slices.Contains(options, s) {
			return nil
		}
		return errors.New("value does not match any valid option")
	}
}

// validServerName is ingress-nginx's ValidateServerName.
func validServerName(v string) error {
	v = strings.TrimSpace(v)
	if !nginxIsValidRegex.MatchString(v) {
		return fmt.Errorf("value %s is invalid server name", v)
	}
	return nil
}

// validServerNames is ingress-nginx's ValidateArrayOfServerName.
func validServerNames(v string) error {
	for _, n := range strings.Split(v, ",") {
		if err := validServerName(n); err != nil {
			return err
		}
	}
	return nil
}

// validCommonName is ingress-nginx's CommonNameAnnotationValidator.
func validCommonName(s string) error {
	rest, ok := strings.CutPrefix(s, "CN=")
	if !ok {
		return fmt.Errorf("value %s is not a valid Common Name annotation: missing prefix 'CN='", s)
	}
	if _, err := regexp.Compile(rest); err != nil {
		return fmt.Errorf("value %s is not a valid regex: %w", s, err)
	}
	return nil
}

// validBool is ingress-nginx's ValidateBool.
func validBool(v string) error { _, err := strconv.ParseBool(v); return err }

// validInt is ingress-nginx's ValidateInt.
func validInt(v string) error { _, err := strconv.Atoi(v); return err }

// validNull is ingress-nginx's ValidateNull: the snippets.
func validNull(string) error { return nil }

// validCIDRs is ingress-nginx's ValidateCIDRs (net.ParseCIDRs): comma
// separated addresses and networks, each trimmed.
func validCIDRs(v string) error {
	if v == "" {
		return nil
	}
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if _, _, err := net.ParseCIDR(s); err != nil && net.ParseIP(s) == nil {
			return err
		}
	}
	return nil
}

// validServiceName is ingress-nginx's ValidateServiceName: an RFC 1035
// label.
func validServiceName(v string) error {
	if errs := validation.IsDNS1035Label(v); len(errs) != 0 {
		return fmt.Errorf("annotation does not contain a valid service name: %+v", errs)
	}
	return nil
}

// nginxEntries indexes the entries of nginxGroups by key (init: the
// groups' parse functions read through it, so it cannot be initialised
// from them statically).
var nginxEntries map[string]*nginxEntry

// nginxKeys maps every key and alias of nginxGroups to its group's index
// and its risk: ingress-nginx's CheckAnnotationRisk, for all the groups at
// once.
var nginxKeys map[string]nginxKey

type nginxKey struct {
	group int
	risk  Risk
}

func init() {
	if len(nginxGroups) > 64 {
		panic("annotations: more ingress-nginx groups than Refusal's bit sets hold")
	}
	nginxEntries, nginxKeys = map[string]*nginxEntry{}, map[string]nginxKey{}
	for i := range nginxGroups {
		for j := range nginxGroups[i].entries {
			e := &nginxGroups[i].entries[j]
			nginxEntries[e.key] = e
			for _, k := range append([]string{e.key}, e.aliases...) {
				nginxKeys[k] = nginxKey{group: i, risk: e.risk}
				e.full = append(e.full, Prefix+k)
			}
		}
	}
}

// NginxAnnotationKeys returns every annotation (without Prefix) of
// ingress-nginx's tables, aliases included, sorted.
func NginxAnnotationKeys() []string {
	var keys []string
	for _, g := range nginxGroups {
		for _, e := range g.entries {
			keys = append(keys, e.key)
			keys = append(keys, e.aliases...)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
