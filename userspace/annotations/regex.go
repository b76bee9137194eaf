package annotations

import (
	"errors"
	"strconv"
)

// regexMeta is the metadata table of the regex family.
var regexMeta = []Meta{
	{
		Key: "use-regex", Default: "false",
		Doc:      "`\"true\"` matches every path of the Ingress's hosts, from all Ingresses of those hosts, `Exact` ones included, as a case-insensitive regular expression anchored at the start of the path (ingress-nginx's `location ~* \"^path\"`).",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
}

// parseRegex applies the regex family to useRegex. A rejected value leaves
// it unchanged.
func parseRegex(get lookup, useRegex *bool, wrap func(key, value string, err error) error) []error {
	v, ok := get("use-regex")
	if !ok {
		return nil
	}
	b, err := parseBool(v)
	if err != nil {
		return []error{wrap("use-regex", v, err)}
	}
	*useRegex = b
	return nil
}

// parseBool accepts what ingress-nginx's boolean annotations accept
// (parser.GetBoolAnnotation: strconv.ParseBool): "true", "True", "TRUE",
// "t", "T", "1" and their false forms, with no surrounding space.
func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New(`must be "true" or "false"`)
	}
	return b, nil
}
