package proxy

import "testing"

func TestEscapeComponent(t *testing.T) {
	t.Parallel()
	// nginx's ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT) leaves only letters,
	// digits and "-._~".
	in := "-----BEGIN CERTIFICATE-----\nAb+/9=~._!*'()\x00\xff"
	want := "-----BEGIN%20CERTIFICATE-----%0AAb%2B%2F9%3D~._%21%2A%27%28%29%00%FF"
	if got := escapeComponent([]byte(in)); got != want {
		t.Errorf("escapeComponent = %q, want %q", got, want)
	}
}
