package annotations

// sslPassthroughMeta is the metadata table of the ssl-passthrough family.
var sslPassthroughMeta = []Meta{
	{
		Key: "ssl-passthrough", Default: "false",
		Doc:      "`\"true\"` sends the TLS connections whose SNI is one of the Ingress's hosts, untouched (no TLS termination), to the endpoints of the host's `/` rule, as ingress-nginx: needs the `--enable-ssl-passthrough` flag, without which it is ignored with a warning. Other paths of the host, the other annotations of its routes and plain HTTP requests are not affected by it.",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
}

// parseSSLPassthrough reads ssl-passthrough into dst. A rejected value
// leaves it false.
func parseSSLPassthrough(get lookup, dst *bool, wrap func(key, value string, err error) error) []error {
	return joinErrs(setParsed(get, wrap, "ssl-passthrough", parseBool, dst))
}
