#!/usr/bin/env bash
# bench/callgrind.sh: user-space instructions per HTTP/1.1 keep-alive request
# of one Weir binary, counted by valgrind's callgrind (this VM has no PMU:
# perf's instructions:u is "not supported" here, so the count comes from
# instrumentation, not from hardware counters).
#
#   bench/callgrind.sh BIN OUT [SECONDS]     # e.g. bench/callgrind.sh /tmp/insn-abc/weir /tmp/cg-abc.out
#
# Weir runs `--workers 0` (GOMAXPROCS=1, asynchronous preemption off: its
# signal upsets callgrind) under callgrind on CPU 1, bin/benchtool's backend
# and wrk -t1 -c64 on CPU 0, host bench.local. After a 3 s warm-up the
# counters are zeroed, wrk runs SECONDS [10], the counters are dumped, and the
# script prints the requests, the instructions of every thread, and their
# ratio. bench/callgrind-areas.py OUT.1 REQUESTS [...] splits a dump by area
# (package, runtime scheduler, timers, malloc, GC, maps).
#
# Under callgrind Weir runs some 50 times slower than natively: what depends on
# time (a handler that runs long enough to be watched, timers that fire, how
# many requests one wake-up finds) is counted as it happens at that speed, and
# the total moves with the machine's load (57-68 thousand a request for one
# binary on this VM at load 1 to 15); the areas that do not depend on time
# (parsing, header maps, writing the upstream head) are the same to a few
# instructions from run to run. Compare binaries alternated, several runs
# each, and area by area.
#
# Environment: WEIR_CG_PORT [28080] (Weir's HTTP port; HTTPS, metrics and the
# backend take the next three); WEIR_CG_CLOSE=1 sends every request with
# `Connection: close`, so each one is a new connection (accept, connection
# setup, the close): the cost of the bench's `close` scenario; WEIR_CG_CONNS
# [64] is wrk's connections (fewer: each request waits less behind the
# others at callgrind's speed, so fewer pass the background read's 10 ms).
# WEIR_CG_WS=1 (bench/callgrind-ws.sh) counts an echoed WebSocket message
# instead: the /ws route with the bench's 3600 s timeouts, `wsload -echo` as
# the backend and `wsload -url` as the load (WEIR_CG_CONNS its connections).
set -euo pipefail
bin=$1 out=$2 secs=${3:-10}
port=${WEIR_CG_PORT:-28080}
conns=${WEIR_CG_CONNS:-64}
root=$(cd "$(dirname "$0")/.." && pwd)
ws=${WEIR_CG_WS:-0}
svc=bench path=/ timeouts=
if [ "$ws" = 1 ]; then
	svc=ws path=/ws
	timeouts='
    nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"
    nginx.ingress.kubernetes.io/proxy-send-timeout: "3600"'
fi
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
cat > "$tmp/all.yaml" <<EOT
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: weir
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: weir-lb.dev/ingress-controller}
---
apiVersion: v1
kind: Service
metadata: {name: $svc}
spec: {ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $svc-1, labels: {kubernetes.io/service-name: $svc}}
addressType: IPv4
ports: [{name: http, port: $((port + 3)), protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bench
  annotations:
    nginx.ingress.kubernetes.io/ssl-redirect: "false"$timeouts
spec:
  ingressClassName: weir
  rules:
  - host: bench.local
    http:
      paths:
      - {path: $path, pathType: Prefix, backend: {service: {name: $svc, port: {number: 80}}}}
EOT
if [ "$ws" = 1 ]; then
	taskset -c 0 "$root/bin/wsload" -echo "127.0.0.1:$((port + 3))" > "$tmp/echo.log" 2>&1 & pids+=($!)
else
	taskset -c 0 "$root/bin/benchtool" backend -listen "127.0.0.1:$((port + 3))" & pids+=($!)
fi
GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$out" \
	"$bin" --manifests "$tmp" --http-port "$port" --https-port "$((port + 1))" --metrics-port "$((port + 2))" \
	--bind-address 127.0.0.1 --access-log=false --workers 0 > "$tmp/weir.out" 2> "$tmp/weir.log" & wp=$!
pids+=($wp)
if [ "$ws" = 1 ]; then
	url="ws://127.0.0.1:$port/ws"
	ready() {
		[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench.local' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
			-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -m 1 "http://127.0.0.1:$port/ws")" = 101 ]
	}
	load() { taskset -c 0 "$root/bin/wsload" -url "$url" -host bench.local -conns "$conns" -size 1024 -duration "$1"; }
	count() { tr ' ' '\n' <<< "$1" | awk -F= '$1 == "messages" {print $2}'; }
	unit=message
else
	url="http://127.0.0.1:$port/bench"
	hdrs=(-H 'Host: bench.local')
	if [ "${WEIR_CG_CLOSE:-0}" = 1 ]; then hdrs+=(-H 'Connection: close'); fi
	ready() { curl -s -o /dev/null -H 'Host: bench.local' "$url"; }
	load() { taskset -c 0 wrk -t1 -c"$conns" -d"$1" "${hdrs[@]}" "$url"; }
	count() { awk '/requests in/{print $1}' <<< "$1"; }
	unit=request
fi
for _ in $(seq 600); do # up to 2 minutes: Weir starts slowly under callgrind
	ready && break
	sleep 0.2
done
load 3s > /dev/null
callgrind_control -z "$wp" > /dev/null
res=$(load "${secs}s")
callgrind_control -d "$wp" > /dev/null
n=$(count "$res")
dump=$(ls -S "$out"* | head -1)
ir=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",", "", $1); print $1}')
extra=
if [ "$ws" = 1 ]; then extra=" ($res)"; fi # wsload's own figures
echo "${unit}s $n instructions $ir per-$unit $((ir / n)) dump $dump$extra"
