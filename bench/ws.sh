#!/usr/bin/env bash
# bench/ws.sh: WebSocket messages/s through Weir and through nginx, in the
# same run, on this machine.
#
#   make bench-ws               # builds bin/weir and bin/wsload, then runs this
#   bench/ws.sh                 # the same, with both already built
#
# A Go echo backend (`wsload -echo`) echoes every message. The Go load client
# (`wsload`) opens BENCH_CONNS WebSocket connections; each sends a
# BENCH_SIZE-byte binary message, waits for its echo, and repeats for
# BENCH_DURATION. Targets, one after the other: the backend directly, Weir
# (--workers 0, folder mode, proxy-read-timeout 3600) and nginx configured as
# ingress-nginx configures WebSockets (proxy_http_version 1.1, Upgrade and
# Connection headers, proxy_read_timeout/proxy_send_timeout 3600s, 2
# workers, no access log). For each: messages/s, p50 and p99 round trip, and
# the proxy's CPU per message (utime+stime of the process and its children).
#
# Environment (defaults in brackets):
#   BENCH_DURATION  load duration per target, Go syntax  [5s]
#   BENCH_CONNS     WebSocket connections                [64]
#   BENCH_SIZE      message size in bytes                [1024]
#   BENCH_TARGETS   what to run, in order                [direct weir nginx]
#   WEIR, WSLOAD    the binaries       [<repo>/bin/weir, <repo>/bin/wsload]
#   NGINX           the nginx binary   [nginx in PATH or /usr/sbin/nginx]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_PROG=ws.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DURATION=${BENCH_DURATION:-5s}
CONNS=${BENCH_CONNS:-64}
SIZE=${BENCH_SIZE:-1024}
TARGETS=${BENCH_TARGETS:-direct weir nginx}
WEIR=${WEIR:-$ROOT/bin/weir}
WSLOAD=${WSLOAD:-$ROOT/bin/wsload}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HOST=bench.local

[[ $CONNS =~ ^[0-9]+$ && $SIZE =~ ^[0-9]+$ ]] || die "BENCH_CONNS and BENCH_SIZE must be numbers"
[[ -x $WEIR ]] || die "no weir binary at $WEIR: run 'make bench-ws'"
[[ -x $WSLOAD ]] || die "no wsload binary at $WSLOAD: run 'make bench-ws'"
if want nginx && [[ ! -x $NGINX ]]; then
	die "no nginx; install with: sudo apt-get install -y nginx-light (or BENCH_TARGETS='direct weir')"
fi
CLK_TCK=$(getconf CLK_TCK)

# --- cleanup: only what this script started ----------------------------------
bench_tmp weir-bench-ws






RESULTS=()
# measure NAME PORT PID: load PORT, measuring the CPU of PID and its children
# (none for PID "-").
measure() {
	local name=$1 port=$2 pid=$3 pids=() before=0 after=0 out msgs rate p50 p99 errs cpu_us
	if [[ $pid != - ]]; then
		mapfile -t pids < <(tree "$pid")
		before=$(cpu_ticks "${pids[@]}")
	fi
	out=$(timeout 120 "$WSLOAD" -url "ws://127.0.0.1:$port/" -host "$HOST" -conns "$CONNS" -size "$SIZE" \
		-duration "$DURATION") || die "wsload against $name failed: $out"
	if [[ $pid != - ]]; then
		after=$(cpu_ticks "${pids[@]}")
	fi
	field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$out"; }
	msgs=$(field messages) rate=$(field msgs_per_s) p50=$(field p50_us) p99=$(field p99_us) errs=$(field errors)
	[[ -n $msgs && -n $rate ]] || die "cannot parse wsload output for $name: $out"
	if [[ $pid == - ]]; then
		cpu_us=-
	else
		cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$msgs" 'BEGIN {printf "%.2f", n ? t / hz * 1e6 / n : 0}')
	fi
	RESULTS+=("$name $rate $p50 $p99 $cpu_us $errs")
	printf '  %-7s %10s msg/s  p50 %6s µs  p99 %6s µs  cpu %s µs/msg  errors %s\n' "$name" "$rate" "$p50" "$p99" "$cpu_us" "$errs" >&2
}

# --- backend -----------------------------------------------------------------
BACKEND_PORT=$(free_port)
"$WSLOAD" -echo "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
BACKEND_PID=$!
PIDS+=("$BACKEND_PID")
wait_ready backend "$BACKEND_PID" "$BACKEND_PORT" "$TMP/backend.log" http_ok

# --- weir --------------------------------------------------------------------
if want weir; then
	mkdir -p "$TMP/manifests"
	cat >"$TMP/manifests/bench.yaml" <<YAML
$(backend_manifests "$BACKEND_PORT")
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bench
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"
    nginx.ingress.kubernetes.io/proxy-send-timeout: "3600"
spec:
  ingressClassName: weir
  rules:
  - host: $HOST
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: bench, port: {number: 80}}}}
YAML
	WEIR_PORT=$(free_port)
	"$WEIR" --manifests "$TMP/manifests" --http-port "$WEIR_PORT" --https-port "$(free_port)" \
		--metrics-port "$(free_port)" --bind-address 127.0.0.1 --workers 0 --access-log=false >"$TMP/weir.log" 2>&1 &
	WEIR_PID=$!
	PIDS+=("$WEIR_PID")
	wait_ready weir "$WEIR_PID" "$WEIR_PORT" "$TMP/weir.log" http_ok
fi

# --- nginx, as ingress-nginx configures WebSockets ---------------------------
if want nginx; then
	NGINX_PORT=$(free_port)
	N=$TMP/nginx
	mkdir -p "$N/logs" "$N/tmp"
	cat >"$N/nginx.conf" <<CONF
worker_processes 2;
pid $N/nginx.pid;
error_log $N/logs/error.log warn;
events {
    worker_connections 16384;
    multi_accept on;
}
http {
    access_log off;
    client_body_temp_path $N/tmp/body;
    proxy_temp_path $N/tmp/proxy;
    fastcgi_temp_path $N/tmp/fastcgi;
    uwsgi_temp_path $N/tmp/uwsgi;
    scgi_temp_path $N/tmp/scgi;
    # ingress-nginx: map \$http_upgrade \$connection_upgrade (with upstream keepalive)
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      '';
    }
    upstream bench {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name $HOST;
        location / {
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_set_header X-Request-ID \$request_id;
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Forwarded-Port \$server_port;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_buffering off;
            proxy_connect_timeout 5s;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
        }
    }
}
CONF
	"$NGINX" -p "$N" -c "$N/nginx.conf" -e "$N/logs/error.log" -g 'daemon off;' >"$N/logs/stdout.log" 2>&1 &
	NGINX_PID=$!
	PIDS+=("$NGINX_PID")
	wait_ready nginx "$NGINX_PID" "$NGINX_PORT" "$N/logs/error.log" http_ok
fi

# --- run ---------------------------------------------------------------------
echo "weir ws bench: $CONNS connections, $SIZE-byte messages, echo round trips for $DURATION per target, $(nproc) CPUs, $("$NGINX" -v 2>&1 | sed 's/.*: //')" >&2
for t in $TARGETS; do
	case $t in
	direct) measure direct "$BACKEND_PORT" - ;;
	weir) measure weir "$WEIR_PORT" "$WEIR_PID" ;;
	nginx) measure nginx "$NGINX_PORT" "$NGINX_PID" ;;
	*) die "BENCH_TARGETS: unknown target $t (want direct, weir, nginx)" ;;
	esac
done

# --- report ------------------------------------------------------------------
echo
printf '%-8s %10s %8s %8s %16s %7s\n' target 'msg/s' 'p50 µs' 'p99 µs' 'proxy CPU µs/msg' errors
for r in "${RESULTS[@]}"; do
	read -r name rate p50 p99 cpu errs <<<"$r"
	printf '%-8s %10s %8s %8s %16s %7s\n' "$name" "$rate" "$p50" "$p99" "$cpu" "$errs"
done
weir=$(printf '%s\n' "${RESULTS[@]}" | awk '$1 == "weir"')
nginx=$(printf '%s\n' "${RESULTS[@]}" | awk '$1 == "nginx"')
if [[ -n $weir && -n $nginx ]]; then
	awk -v w="$weir" -v n="$nginx" 'BEGIN {
		split(w, a, " "); split(n, b, " ")
		printf "\nweir/nginx  msg/s %.2fx (higher is better)  CPU per message %.2fx (lower is better)\n",
			a[2] / b[2], (b[5] > 0 ? a[5] / b[5] : 0)
	}'
fi
