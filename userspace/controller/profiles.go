package controller

import (
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"net/netip"
)

// ProfilesHandler serves Go's profiles (net/http/pprof, under
// /debug/pprof/) to clients on a loopback address only; any other client
// gets 404, as if they were not served. ingress-nginx serves them
// (--profiling) on 127.0.0.1:10245 alone; Weir serves them on the metrics
// port, which listens on the node's addresses: a profile names the
// process's flags (/debug/pprof/cmdline) and costs CPU on demand, so it
// stays on the node, reachable through kubectl port-forward.
func ProfilesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !ip.Unmap().IsLoopback() {
			http.NotFound(w, r)
			return
		}
		http.DefaultServeMux.ServeHTTP(w, r)
	})
}
