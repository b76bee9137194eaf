package h1guard

import "strconv"

// statusTexts are the reasons of nginx's status lines
// (ngx_http_header_filter_module.c, ngx_http_status_lines), by status:
// not always the RFC's ("302 Moved Temporarily", "503 Service Temporarily
// Unavailable", "504 Gateway Time-out") nor its page titles' (pageTitles:
// "401 Authorization Required" is titled so, its status line says
// "Unauthorized"). A status nginx has no reason for (203, 407, 422, 599,
// ...) it writes with the code and a space alone.
var statusTexts = map[int]string{
	200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
	301: "Moved Permanently", 302: "Moved Temporarily", 303: "See Other", 304: "Not Modified",
	307: "Temporary Redirect", 308: "Permanent Redirect",
	400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
	405: "Not Allowed", 406: "Not Acceptable", 408: "Request Time-out", 409: "Conflict", 410: "Gone",
	411: "Length Required", 412: "Precondition Failed", 413: "Request Entity Too Large", 414: "Request-URI Too Large",
	415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable", 421: "Misdirected Request",
	429: "Too Many Requests",
	500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
	504: "Gateway Time-out", 505: "HTTP Version Not Supported", 507: "Insufficient Storage",
}

// interimTexts are the reasons of the 1xx status lines, which nginx's
// table has none of: the RFC's, as nginx writes "100 Continue" itself.
var interimTexts = map[int]string{100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints"}

// statusLines are the whole status lines, "HTTP/1.1 " to CRLF, of the
// codes 100 to 999, built once so that a response's costs one copy.
var statusLines = func() (lines [900]string) {
	for i := range lines {
		code := 100 + i
		text, ok := statusTexts[code]
		if !ok {
			text = interimTexts[code]
		}
		lines[i] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
	}
	return lines
}()

// StatusLine is the status line nginx writes for its own response of
// status code, with its CRLF: "HTTP/1.1 503 Service Temporarily
// Unavailable\r\n"; for a code without a reason in nginx's table, the code
// and a space ("HTTP/1.1 599 \r\n"). code must be in 100-999.
func StatusLine(code int) string { return statusLines[code-100] }
