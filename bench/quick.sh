#!/usr/bin/env bash
# bench/quick.sh: a quick, same-run comparison of Weir and nginx proxying the
# same HTTP/1.1 keep-alive load to the same backend on this machine.
#
#   make bench-quick            # builds bin/weir, then runs this script
#   bench/quick.sh              # the same, with bin/weir already built
#
# One demo backend (`weir demo-backends`) answers GET /bench with a fixed
# 13-byte body. wrk loads, one after the other: the backend directly, Weir
# (--workers 0, folder mode, host bench.local), and nginx configured as
# ingress-nginx would be (2 workers, upstream keepalive 64, HTTP/1.1 to the
# upstream, the X-Forwarded-* headers, no access log). For each target it
# reports requests/s, p99 latency and the CPU the proxy process used per
# request (utime+stime from /proc/PID/stat, the process and its children).
# Everything shares the same cores: wrk, the proxy and the backend.
#
# weir-workers is Weir in its multi-process mode (--workers auto: a supervisor
# and one worker process per core, pinned, on SO_REUSEPORT sockets; no XDP on
# loopback), next to weir (--workers 0, one in-process proxy); its CPU is the
# supervisor's plus its workers'.
#
# weir-tls and nginx-tls load the same two processes over HTTPS (keep-alive,
# so mostly record encryption, few handshakes): one ECDSA P-256 certificate
# for bench.local made with openssl, served by Weir from a kubernetes.io/tls
# Secret and by nginx with ssl_protocols TLSv1.2 TLSv1.3, both sending HSTS.
# The Ingress sets ssl-redirect "false" so the plain targets stay plain.
#
# Environment (defaults in brackets):
#   BENCH_DURATION  wrk duration per target, Ns or Nm   [10s]
#   BENCH_CONNS     wrk connections                     [64]
#   BENCH_THREADS   wrk threads                         [2]
#   BENCH_WARMUP    wrk warm-up per proxy, Ns           [2s]
#   BENCH_TARGETS   what to run, in order               [direct weir weir-workers nginx]
#                   (also: weir-tls nginx-tls)
#   WEIR            the weir binary                     [<repo>/bin/weir]
#   WEIR_FLAGS      more flags for both weir targets    []
#   BENCH_STRACE    1: count the system calls of the proxy with strace -f -c
#                   during its run and report them per request (slows it:
#                   its req/s and CPU figures are then not comparable)  [0]
#                   (e.g. --http1-server=net)
#   NGINX           the nginx binary                    [nginx in PATH or /usr/sbin/nginx]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_PROG=quick.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
TARGETS=${BENCH_TARGETS:-direct weir weir-workers nginx}
WEIR=${WEIR:-$ROOT/bin/weir}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HOST=bench.local


[[ $(seconds "$DURATION") =~ ^[0-9]+$ ]] || die "BENCH_DURATION=$DURATION: want Ns or Nm"
[[ $(seconds "$WARMUP") =~ ^[0-9]+$ ]] || die "BENCH_WARMUP=$WARMUP: want Ns or Nm"
[[ $CONNS =~ ^[0-9]+$ && $THREADS =~ ^[0-9]+$ ]] || die "BENCH_CONNS and BENCH_THREADS must be numbers"

# --- tools -------------------------------------------------------------------
missing=()
[[ -x $NGINX ]] || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
if [[ " $TARGETS " == *-tls* ]]; then command -v openssl >/dev/null || missing+=(openssl); fi
if ((${#missing[@]})); then
	echo "quick.sh: missing ${missing[*]}; install with:" >&2
	echo "  sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
[[ -x $WEIR ]] || die "no weir binary at $WEIR: run 'go build -o bin/weir ./cmd/weir' (make bench-quick does)"
CLK_TCK=$(getconf CLK_TCK)

# --- cleanup: only what this script started ----------------------------------
bench_tmp weir-bench

# --- helpers -----------------------------------------------------------------





# run_wrk PORT DURATION [SCHEME]: run wrk against PORT (SCHEME http or
# https, default http), output to stdout.
run_wrk() {
	local secs
	secs=$(seconds "$2")
	timeout $((secs + 30)) wrk -t"$THREADS" -c"$CONNS" -d"$2" --timeout 5s --latency \
		-H "Host: $HOST" "${3:-http}://127.0.0.1:$1/bench"
}

# measure NAME PORT PID [SCHEME]: run wrk on PORT, measuring the CPU of PID
# and its children (none for PID "-"), and record a result line.
RESULTS=()
measure() {
	local name=$1 port=$2 pid=$3 scheme=${4:-http} pids=() before=0 after=0 out rps reqs p99 errs cpu_us
	if [[ $pid != - ]]; then
		mapfile -t pids < <(tree "$pid")
		before=$(cpu_ticks "${pids[@]}")
	fi
	local strace_pid=
	if [[ ${BENCH_STRACE:-0} == 1 && $pid != - ]]; then
		strace -f -c -q -o "$TMP/strace-$name.txt" -p "$pid" &
		strace_pid=$!
		sleep 1 # strace attaches to every thread before the load starts
	fi
	out=$(run_wrk "$port" "$DURATION" "$scheme") || die "wrk against $name failed: $out"
	if [[ $pid != - ]]; then
		after=$(cpu_ticks "${pids[@]}")
	fi
	if [[ -n $strace_pid ]]; then
		kill -INT "$strace_pid"
		wait "$strace_pid" || true
	fi
	printf '%s\n' "$out" >"$TMP/wrk-$name.txt"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {for (i = 4; i <= NF; i += 2) n += $i} END {print n + 0}' <<<"$out")
	[[ -n $rps && -n $reqs ]] || die "cannot parse wrk output for $name: $out"
	if [[ $pid == - ]]; then
		cpu_us=-
	else
		cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.2f", n ? t / hz * 1e6 / n : 0}')
	fi
	if [[ -n $strace_pid ]]; then
		awk -v n="$reqs" -v name="$name" '$NF == "total" {printf "  %-12s %.2f system calls per request (strace -f -c)\n", name, $(NF-2) / n}
			$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {printf "    %-16s %.3f/req\n", $NF, $4 / n}' "$TMP/strace-$name.txt" >&2
	fi
	RESULTS+=("$name $rps $p99 $cpu_us $errs")
	printf '  %-12s %12s req/s  p99 %-9s cpu %s µs/req  errors %s\n' "$name" "$rps" "$p99" "$cpu_us" "$errs" >&2
}

# --- backend -----------------------------------------------------------------
BACKEND_PORT=$(free_port)
"$WEIR" demo-backends --backend "bench=127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
BACKEND_PID=$!
PIDS+=("$BACKEND_PID")
wait_ready backend "$BACKEND_PID" "$BACKEND_PORT" "$TMP/backend.log" bench_ok


# --- certificate (TLS targets) -----------------------------------------------
# One self-signed ECDSA P-256 certificate for bench.local (and 127.0.0.1,
# which wrk sends as SNI), shared by Weir and nginx.
if want weir-tls || want nginx-tls; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST,IP:127.0.0.1" \
		-keyout "$TMP/tls.key" -out "$TMP/tls.crt" 2>"$TMP/openssl.log" ||
		die "openssl could not make the bench certificate: $(cat "$TMP/openssl.log")"
	chmod 644 "$TMP/tls.key"
fi

# --- weir --------------------------------------------------------------------
if want weir || want weir-tls || want weir-workers; then
	mkdir -p "$TMP/manifests"
	cat >"$TMP/manifests/bench.yaml" <<EOF
$(backend_manifests "$BACKEND_PORT")
---
$(ingress_manifest bench / bench)
EOF
	if [[ -f $TMP/tls.crt ]]; then
		tls_secret_manifest >"$TMP/manifests/secret.yaml"
	fi
	WEIR_PORT=$(free_port)
	WEIR_TLS_PORT=$(free_port)
	weir_flags=(--manifests "$TMP/manifests" --http-port "$WEIR_PORT" --https-port "$WEIR_TLS_PORT"
		--metrics-port "$(free_port)" --bind-address 127.0.0.1 --workers 0)
	# nginx runs with access_log off: so does Weir, where it has the flag.
	if "$WEIR" --help 2>&1 | grep -q -- '-access-log'; then
		weir_flags+=(--access-log=false)
	fi
	read -r -a extra <<<"${WEIR_FLAGS:-}"
	weir_flags+=("${extra[@]}")
	"$WEIR" "${weir_flags[@]}" >"$TMP/weir.log" 2>&1 &
	WEIR_PID=$!
	PIDS+=("$WEIR_PID")
	wait_ready weir "$WEIR_PID" "$WEIR_PORT" "$TMP/weir.log" bench_ok
fi
if want weir-workers; then
	WEIRW_PORT=$(free_port)
	weirw_flags=(--manifests "$TMP/manifests" --http-port "$WEIRW_PORT" --https-port "$(free_port)"
		--metrics-port "$(free_port)" --bind-address 127.0.0.1 --workers auto --xdp-mode off)
	if "$WEIR" --help 2>&1 | grep -q -- '-access-log'; then
		weirw_flags+=(--access-log=false)
	fi
	read -r -a extra <<<"${WEIR_FLAGS:-}"
	weirw_flags+=("${extra[@]}")
	"$WEIR" "${weirw_flags[@]}" >"$TMP/weir-workers.log" 2>&1 &
	WEIRW_PID=$!
	PIDS+=("$WEIRW_PID")
	wait_ready weir-workers "$WEIRW_PID" "$WEIRW_PORT" "$TMP/weir-workers.log" bench_ok
fi

# --- nginx, as ingress-nginx configures it -----------------------------------
if want nginx || want nginx-tls; then
	NGINX_PORT=$(free_port)
	NGINX_TLS_PORT=$(free_port)
	nginx_tls_conf=
	if [[ -f $TMP/tls.crt ]]; then
		nginx_tls_conf="listen 127.0.0.1:$NGINX_TLS_PORT ssl;
        ssl_certificate $TMP/tls.crt;
        ssl_certificate_key $TMP/tls.key;
        add_header Strict-Transport-Security \"max-age=31536000; includeSubDomains\" always;"
	fi
	N=$TMP/nginx
	mkdir -p "$N/logs" "$N/tmp"
	cat >"$N/nginx.conf" <<EOF
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
    keepalive_timeout 75s;
    keepalive_requests 1000;    # ingress-nginx keep-alive-requests
    upstream bench {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;           # upstream-keepalive-connections
        keepalive_requests 10000;
        keepalive_timeout 60s;
    }
    ssl_protocols TLSv1.2 TLSv1.3;     # ingress-nginx ssl-protocols
    ssl_session_cache shared:SSL:10m;  # ingress-nginx ssl-session-cache
    ssl_session_tickets off;           # ingress-nginx ssl-session-tickets
    server {
        listen 127.0.0.1:$NGINX_PORT;
        $nginx_tls_conf
        server_name $HOST;
        location / {
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Request-ID \$request_id;
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Forwarded-Port \$server_port;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_buffering off;
            proxy_connect_timeout 5s;
            proxy_read_timeout 60s;
        }
    }
}
EOF
	"$NGINX" -p "$N" -c "$N/nginx.conf" -e "$N/logs/error.log" -g 'daemon off;' >"$N/logs/stdout.log" 2>&1 &
	NGINX_PID=$!
	PIDS+=("$NGINX_PID")
	wait_ready nginx "$NGINX_PID" "$NGINX_PORT" "$N/logs/error.log" bench_ok
fi

# --- run ---------------------------------------------------------------------
echo "weir quick bench: wrk -t$THREADS -c$CONNS -d$DURATION GET /bench (Host $HOST), $(nproc) CPUs, $("$NGINX" -v 2>&1 | sed 's/.*: //')" >&2
for t in $TARGETS; do
	case $t in
	direct) measure direct "$BACKEND_PORT" - ;;
	weir)
		run_wrk "$WEIR_PORT" "$WARMUP" >/dev/null
		measure weir "$WEIR_PORT" "$WEIR_PID"
		;;
	weir-workers)
		run_wrk "$WEIRW_PORT" "$WARMUP" >/dev/null
		measure weir-workers "$WEIRW_PORT" "$WEIRW_PID"
		;;
	nginx)
		run_wrk "$NGINX_PORT" "$WARMUP" >/dev/null
		measure nginx "$NGINX_PORT" "$NGINX_PID"
		;;
	weir-tls)
		run_wrk "$WEIR_TLS_PORT" "$WARMUP" https >/dev/null
		measure weir-tls "$WEIR_TLS_PORT" "$WEIR_PID" https
		;;
	nginx-tls)
		run_wrk "$NGINX_TLS_PORT" "$WARMUP" https >/dev/null
		measure nginx-tls "$NGINX_TLS_PORT" "$NGINX_PID" https
		;;
	*) die "BENCH_TARGETS: unknown target $t (want direct, weir, weir-workers, nginx, weir-tls, nginx-tls)" ;;
	esac
done

# --- report ------------------------------------------------------------------
echo
printf '%-13s %12s %10s %16s %8s\n' target 'req/s' p99 'proxy CPU µs/req' errors
for r in "${RESULTS[@]}"; do
	read -r name rps p99 cpu errs <<<"$r"
	printf '%-13s %12s %10s %16s %8s\n' "$name" "$rps" "$p99" "$cpu" "$errs"
done
weir=$(printf '%s\n' "${RESULTS[@]}" | awk '$1 == "weir"')
nginx=$(printf '%s\n' "${RESULTS[@]}" | awk '$1 == "nginx"')
if [[ -n $weir && -n $nginx ]]; then
	awk -v w="$weir" -v n="$nginx" 'BEGIN {
		split(w, a, " "); split(n, b, " ")
		printf "\nweir/nginx  req/s %.2fx (higher is better)  CPU per request %.2fx (lower is better)\n",
			a[2] / b[2], (b[4] > 0 ? a[4] / b[4] : 0)
	}'
fi
weirw=$(printf '%s\n' "${RESULTS[@]}" | awk '$1 == "weir-workers"')
if [[ -n $weirw && -n $nginx ]]; then
	awk -v w="$weirw" -v n="$nginx" 'BEGIN {
		split(w, a, " "); split(n, b, " ")
		printf "weir-workers/nginx  req/s %.2fx (higher is better)  CPU per request %.2fx (lower is better)\n",
			a[2] / b[2], (b[4] > 0 ? a[4] / b[4] : 0)
	}'
fi
weir_tls=$(printf '%s\n' "${RESULTS[@]}" | awk '$1 == "weir-tls"')
nginx_tls=$(printf '%s\n' "${RESULTS[@]}" | awk '$1 == "nginx-tls"')
if [[ -n $weir_tls && -n $nginx_tls ]]; then
	awk -v w="$weir_tls" -v n="$nginx_tls" 'BEGIN {
		split(w, a, " "); split(n, b, " ")
		printf "weir-tls/nginx-tls  req/s %.2fx (higher is better)  CPU per request %.2fx (lower is better)\n",
			a[2] / b[2], (b[4] > 0 ? a[4] / b[4] : 0)
	}'
fi
