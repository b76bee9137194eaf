package annotations

import (
	"errors"
	"net/url"
	"strings"
)

// Mirror is the mirror family: a copy of each request of the Ingress's
// routes is sent to Target, its response ignored, as nginx's mirror
// directive in ingress-nginx (after the limits and the allow-lists).
type Mirror struct {
	// Target is mirror-target's URL without a trailing "$request_uri":
	// "http" or "https" (the certificate is not verified, as nginx's
	// proxy_ssl_verify off), a host and an optional path.
	Target string `json:"target"`
	// RequestURI is true when mirror-target ends in "$request_uri": the
	// request's URI is appended to Target. Else the mirror gets Target's
	// path, or the request's URI when Target has none (nginx would send
	// its internal location's name).
	RequestURI bool `json:"requestURI,omitempty"`
	// Host is mirror-host, else Target's host name (without the port): the
	// Host header of the copy.
	Host string `json:"host"`
	// NoBody is mirror-request-body "off": the copy has no body. Default
	// false.
	NoBody bool `json:"noBody,omitempty"`
}

// mirrorMeta is the metadata table of the mirror family.
var mirrorMeta = []Meta{
	{
		Key:      "mirror-target",
		Doc:      "URL (`http` or `https`, certificate not verified) that gets a copy of each request of the Ingress, after limits and allow-lists; its response is ignored and it never delays or fails the request. A trailing `$request_uri` appends the request's URI (no other nginx variable is expanded); without it the copy goes to the URL's path followed by the request's arguments, as nginx sends it, or to the request's URI when the URL has none (where nginx sends `/_mirror-` and the Ingress's UID, then the arguments). At most 64 copies are in flight per worker; more are dropped (`weir_mirror_dropped_total`). An invalid value mirrors nothing, with a warning.",
		Validate: func(v string) error { _, _, err := parseMirrorTarget(v); return err },
	},
	{
		Key:      "mirror-host",
		Doc:      "`Host` header of the mirrored copy; default the host name of `mirror-target`.",
		Validate: validateMirrorHost,
	},
	{
		Key: "mirror-request-body", Default: "on",
		Doc:      "`\"off\"`: the copy is sent without the request body, with `Content-Length: 0` (nginx keeps the client's `Content-Length` and sends no body, so the mirror waits for one until its timeout). A body larger than 1 MiB, or that failed to arrive, is not mirrored.",
		Validate: func(v string) error { _, err := parseOnOff(v); return err },
	},
}

// parseMirrorTarget splits mirror-target into its URL and whether
// "$request_uri" follows it.
func parseMirrorTarget(v string) (string, bool, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", false, nil // no mirror
	}
	base, requestURI := strings.CutSuffix(v, "$request_uri")
	if strings.Contains(base, "$") {
		return "", false, errors.New("must be a URL, optionally followed by $request_uri: Weir expands no other nginx variable")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", false, errors.New("must be an http or https URL with a host")
	}
	return base, requestURI, nil
}

func validateMirrorHost(v string) error {
	if strings.ContainsAny(v, " \t\r\n/$") { // "": the target's
		return errors.New("must be a host name")
	}
	return nil
}

// parseOnOff accepts "on" and "off".
func parseOnOff(v string) (bool, error) {
	switch v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, errors.New(`must be "on" or "off"`)
}

// parseMirror reads the mirror family into dst (nil: no mirror).
func parseMirror(get lookup, dst **Mirror, wrap func(key, value string, err error) error) []error {
	m := &Mirror{}
	body := true
	var host string
	errs := joinErrs(
		setParsed(get, wrap, "mirror-target", func(v string) (string, error) {
			t, ru, err := parseMirrorTarget(v)
			m.RequestURI = ru
			return t, err
		}, &m.Target),
		setParsed(get, wrap, "mirror-host", func(v string) (string, error) { return v, validateMirrorHost(v) }, &host),
		setParsed(get, wrap, "mirror-request-body", parseOnOff, &body),
	)
	if m.Target == "" {
		return errs
	}
	m.NoBody = !body
	m.Host = host
	if m.Host == "" {
		u, _ := url.Parse(m.Target)
		m.Host = u.Hostname()
	}
	*dst = m
	return errs
}
