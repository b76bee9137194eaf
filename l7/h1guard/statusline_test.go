package h1guard

import "testing"

// TestStatusLine: nginx's status lines (ngx_http_status_lines), where they
// are not Go's or the RFC's, and the code alone where nginx has no text.
func TestStatusLine(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{
		200: "HTTP/1.1 200 OK\r\n",
		302: "HTTP/1.1 302 Moved Temporarily\r\n",
		401: "HTTP/1.1 401 Unauthorized\r\n",
		405: "HTTP/1.1 405 Not Allowed\r\n",
		408: "HTTP/1.1 408 Request Time-out\r\n",
		413: "HTTP/1.1 413 Request Entity Too Large\r\n",
		414: "HTTP/1.1 414 Request-URI Too Large\r\n",
		416: "HTTP/1.1 416 Requested Range Not Satisfiable\r\n",
		503: "HTTP/1.1 503 Service Temporarily Unavailable\r\n",
		504: "HTTP/1.1 504 Gateway Time-out\r\n",
		203: "HTTP/1.1 203 \r\n",
		407: "HTTP/1.1 407 \r\n",
		422: "HTTP/1.1 422 \r\n",
		431: "HTTP/1.1 431 \r\n",
		599: "HTTP/1.1 599 \r\n",
		999: "HTTP/1.1 999 \r\n",
		100: "HTTP/1.1 100 Continue\r\n",
		103: "HTTP/1.1 103 Early Hints\r\n",
	} {
		if got := StatusLine(code); got != want {
			t.Errorf("StatusLine(%d) = %q, want %q", code, got, want)
		}
	}
}
