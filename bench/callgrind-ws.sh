#!/usr/bin/env bash
# bench/callgrind-ws.sh: user-space instructions per echoed WebSocket message
# (the bench's `ws` scenario: 1 KiB messages, bin/wsload's echo backend) of
# one Weir binary, counted by callgrind as bench/callgrind.sh counts a
# request (its comments hold for this one: compare binaries alternated, area
# by area).
#
#   bench/callgrind-ws.sh BIN OUT [SECONDS]
#
# Weir runs `--workers 0` (GOMAXPROCS=1, asynchronous preemption off) under
# callgrind on CPU 1, `wsload -echo` and `wsload -url` on CPU 0, the /ws route
# with the bench's 3600 s timeouts. After a 3 s warm-up the counters are
# zeroed, wsload runs SECONDS [10], the counters are dumped, and the script
# prints the messages, the instructions and their ratio; split a dump with
# bench/callgrind-areas.py OUT.1 MESSAGES.
#
# Environment: WEIR_CG_PORT [28080] (Weir's HTTP port; HTTPS, metrics and the
# backend take the next three); WEIR_CG_CONNS [64] wsload's connections;
# WEIR_WS_EPOLL is passed on (1: the relay loop, wsloop.go).
set -euo pipefail
bin=$1 out=$2 secs=${3:-10}
port=${WEIR_CG_PORT:-28080}
conns=${WEIR_CG_CONNS:-64}
root=$(cd "$(dirname "$0")/.." && pwd)
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
metadata: {name: ws}
spec: {ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ws-1, labels: {kubernetes.io/service-name: ws}}
addressType: IPv4
ports: [{name: http, port: $((port + 3)), protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bench
  annotations:
    nginx.ingress.kubernetes.io/ssl-redirect: "false"
    nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"
    nginx.ingress.kubernetes.io/proxy-send-timeout: "3600"
spec:
  ingressClassName: weir
  rules:
  - host: bench.local
    http:
      paths:
      - {path: /ws, pathType: Prefix, backend: {service: {name: ws, port: {number: 80}}}}
EOT
taskset -c 0 "$root/bin/wsload" -echo "127.0.0.1:$((port + 3))" > "$tmp/echo.log" 2>&1 & pids+=($!)
GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$out" \
	"$bin" --manifests "$tmp" --http-port "$port" --https-port "$((port + 1))" --metrics-port "$((port + 2))" \
	--bind-address 127.0.0.1 --access-log=false --workers 0 > "$tmp/weir.out" 2> "$tmp/weir.log" & wp=$!
pids+=($wp)
url="ws://127.0.0.1:$port/ws"
for _ in $(seq 600); do # up to 2 minutes: Weir starts slowly under callgrind
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench.local' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
		-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -m 1 "http://127.0.0.1:$port/ws")" = 101 ] && break
	sleep 0.2
done
load() { taskset -c 0 "$root/bin/wsload" -url "$url" -host bench.local -conns "$conns" -size 1024 -duration "$1"; }
load 3s > /dev/null
callgrind_control -z "$wp" > /dev/null
res=$(load "${secs}s")
callgrind_control -d "$wp" > /dev/null
msgs=$(tr ' ' '\n' <<< "$res" | awk -F= '$1 == "messages" {print $2}')
dump=$(ls -S "$out"* | head -1)
ir=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",", "", $1); print $1}')
echo "messages $msgs instructions $ir per-message $((ir / msgs)) dump $dump ($res)"
