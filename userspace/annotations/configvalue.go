package annotations

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The controller ConfigMap's integers and booleans are read here as
// ingress-nginx's ReadConfig reads them: most keys through mapstructure
// v1.5.0 with WeaklyTypedInput (configInt, configBool), a few by hand
// with strconv.Atoi (configAtoi). A value ingress-nginx fails to decode
// keeps the key's default there while the other keys still apply; Weir
// does the same and warns (InvalidConfigMapValue).

// configInt reads an integer as mapstructure's weak decoding does:
// strconv.ParseInt with base 0, the empty string read as 0. So a sign,
// Go's base prefixes and underscores are accepted ("+5" is 5, "0x10" 16,
// "010" 8, "0b11" 3, "1_0" 10) and spaces and units are not (" 5" and
// "5s" fail). The error is strconv's.
func configInt(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	return strconv.ParseInt(v, 0, 64)
}

// configAtoi reads an integer as ReadConfig's hand-parsed keys
// (http-redirect-code, proxy-stream-responses) do, strconv.Atoi: decimal
// digits with an optional sign ("+5" is 5, "010" 10); the empty string,
// spaces, prefixes and underscores fail.
func configAtoi(v string) (int64, error) {
	n, err := strconv.Atoi(v)
	return int64(n), err
}

// configBool reads a boolean as mapstructure's weak decoding does:
// strconv.ParseBool ("1", "t", "T", "TRUE", "true", "True" and their
// false forms), the empty string read as false; "yes", "on" and spaces
// fail.
func configBool(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	return parseBool(v)
}

// validateConfigBool is the validator of a ConfigMap boolean (configBool).
func validateConfigBool(v string) error { _, err := configBool(v); return err }

// configRange reads v with read (configInt or configAtoi) and accepts it
// from lo to hi; another value, or one read fails, is refused with the
// reason "must be " + what.
func configRange(read func(string) (int64, error), v string, lo, hi int64, what string) (int, error) {
	n, err := read(v)
	if err != nil || n < lo || n > hi {
		return 0, errors.New("must be " + what)
	}
	return int(n), nil
}

// configCount reads a non-negative ConfigMap integer (configInt) up to
// maxSeconds.
func configCount(v string) (int, error) {
	n, err := configInt(v)
	switch {
	case errors.Is(err, strconv.ErrRange) || err == nil && n > maxSeconds:
		return 0, fmt.Errorf("must be at most %d", maxSeconds)
	case err != nil || n < 0:
		return 0, errors.New("must be a non-negative integer")
	}
	return int(n), nil
}

// validateConfigCount is the validator of configCount's keys.
func validateConfigCount(v string) error { _, err := configCount(v); return err }

// configDuration reads a ConfigMap key that ingress-nginx declares as an
// integer number of seconds (client-header-timeout, client-body-timeout,
// upstream-keepalive-timeout) with parseConfigSeconds: "0x1e" is 30s;
// "30s" and "1m" fail to decode there, so the default applies.
func configDuration(v string) (time.Duration, error) {
	n, err := parseConfigSeconds(v)
	return time.Duration(n) * time.Second, err
}
