package h1guard

import "strconv"

// pageTitles are the titles of nginx's own pages (ngx_http_special_response.c),
// by status: the status and its nginx reason, which is not always the
// RFC's ("401 Authorization Required", "503 Service Temporarily Unavailable",
// "504 Gateway Time-out").
var pageTitles = map[int]string{
	301: "Moved Permanently", 302: "Found", 303: "See Other", 307: "Temporary Redirect", 308: "Permanent Redirect",
	400: "Bad Request", 401: "Authorization Required", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
	405: "Not Allowed", 406: "Not Acceptable", 408: "Request Time-out", 409: "Conflict", 410: "Gone",
	411: "Length Required", 412: "Precondition Failed", 413: "Request Entity Too Large", 414: "Request-URI Too Large",
	415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable", 421: "Misdirected Request",
	429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
	503: "Service Temporarily Unavailable", 504: "Gateway Time-out", 505: "HTTP Version Not Supported",
	507: "Insufficient Storage",
}

// pages are nginx's pages by status, built once so that an error costs no
// allocation.
var pages = func() map[int]string {
	m := make(map[int]string, len(pageTitles))
	for code, text := range pageTitles {
		status := strconv.Itoa(code) + " " + text
		m[code] = pageOf(status, status, "")
	}
	return m
}()

// pageOf is nginx's page titled title, with heading h1, an extra centred
// line (none when ""), and the tail of server_tokens off (ingress-nginx's
// default): "nginx" without a version.
func pageOf(title, h1, extra string) string {
	body := "<center><h1>" + h1 + "</h1></center>\r\n"
	if extra != "" {
		body += "<center>" + extra + "</center>\r\n"
	}
	return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n" + body +
		"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
}

// ErrorPage is the page nginx sends for status code from its own
// responses (return, auth_basic, limit_req, an upstream it could not
// reach, ...), to be sent as text/html. It is "" for a status nginx has no
// page for (such as 599), which nginx sends with an empty body.
func ErrorPage(code int) string {
	return pages[code]
}
