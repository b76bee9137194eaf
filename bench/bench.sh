#!/usr/bin/env bash
# bench/bench.sh: the whole benchmark matrix, Weir against nginx and haproxy
# configured for the same job, in one run. See bench/README.md.
#
#   make bench                  # builds bin/weir, bin/benchtool, bin/wsload, then runs this
#   bench/bench.sh              # the same, with the binaries already built
#
# Setups (BENCH_ROWS), each a set of fresh proxy processes:
#   1core      one core each, access logs off: Weir --workers 0 with GOMAXPROCS=1,
#              nginx worker_processes 1, haproxy nbthread 1, each pinned to CPU 0;
#              wrk, wsload and the backends pinned to the other CPUs
#   1core-log  the same with access logs on, written to files ($BENCH_LOGDIR):
#              Weir's default JSON log, nginx's ingress-nginx upstreaminfo format
#              (buffered), haproxy's httplog
#   allcores   all cores, access logs off: Weir --workers auto, nginx and haproxy
#              one worker/thread per CPU, nothing pinned but the backends
# Scenarios (BENCH_SCENARIOS):
#   keepalive  wrk, HTTP/1.1 keep-alive, GET /bench (13 bytes)
#   close      wrk with "Connection: close": a new connection per request
#   tls        wrk over HTTPS keep-alive: TLS 1.3, one ECDSA P-256 certificate
#   ws         wsload: 1 KiB WebSocket messages echoed by a Go backend
#   100k       wrk, HTTP/1.1 keep-alive, GET /100k (100 000 bytes)
#   idle       BENCH_IDLE_CONNS idle keep-alive connections (one GET each) to a
#              fresh 1core proxy: its RSS growth per connection
#   idle-tls   the same over TLS 1.3
# Each load scenario runs BENCH_ROUNDS rounds; round r runs every target once
# (after a BENCH_WARMUP warm-up), in an order rotated by r. Per run: requests/s,
# p50 and p99 latency, the CPU time (utime+stime) of the proxy's process tree
# per request, and its RSS (the sum of VmRSS). The report (benchtool report)
# gives medians, the min–max spread and each ratio to nginx, writes
# $BENCH_RESULTS/<date>-<scenario>.md and <date>-summary.md, and prints the
# summary on standard output; progress goes to standard error.
#
# Environment (defaults in brackets):
#   BENCH_DURATION    load per run, Ns or Nm                      [8s]
#   BENCH_WARMUP      warm-up before each run, Ns                 [1s]
#   BENCH_ROUNDS      rounds                                      [3]
#   BENCH_CONNS       wrk and wsload connections                  [64]
#   BENCH_THREADS     wrk threads              [the CPUs the load may use]
#   BENCH_IDLE_CONNS  connections of the idle scenarios           [10000]
#   BENCH_SCENARIOS   [keepalive close tls ws 100k idle idle-tls]
#   BENCH_ROWS        [1core 1core-log allcores]
#   BENCH_TARGETS     [weir nginx haproxy]; also floor-goroutine, floor-epoll
#                     and floor-uring: bin/floorproxy, issue 9's floor (TCP
#                     bytes forwarded unparsed), in 1core only, not in tls, ws
#                     and idle-tls
#   BENCH_SYSCALLS    strace and/or perf: after each measured run, one more
#                     run of BENCH_SYSCALLS_DURATION [3s] with the proxy's
#                     system calls counted (strace -f -c -p, or perf stat -e
#                     raw_syscalls:sys_enter,context-switches -p), reported
#                     per request; and/or record: the run sampled by perf
#                     record -e cpu-clock -p (kernel and user), its top
#                     objects and symbols written to BENCH_LOGDIR/profile-
#                     TARGET-SCENARIO-ROW-ROUND.txt (perf report --sort dso,
#                     then --sort dso,sym)                                []
#   BENCH_RESULTS     where the Markdown goes                     [<repo>/bench/results]
#   BENCH_LOGDIR      where access logs go (a file system, never a terminal) [a temporary folder]
#   BENCH_INSTALL     0: never apt-get install what is missing     [1]
#   WEIR, BENCHTOOL, WSLOAD   [<repo>/bin/weir, <repo>/bin/benchtool, <repo>/bin/wsload]
#   FLOORPROXY                [<repo>/bin/floorproxy]
#   NGINX, HAPROXY            [from PATH, else /usr/sbin]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_PROG=bench.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DURATION=${BENCH_DURATION:-8s}
WARMUP=${BENCH_WARMUP:-1s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-64}
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
SCENARIOS=${BENCH_SCENARIOS:-keepalive close tls ws 100k idle idle-tls}
ROWS=${BENCH_ROWS:-1core 1core-log allcores}
TARGETS=${BENCH_TARGETS:-weir nginx haproxy}
RESULTS_DIR=${BENCH_RESULTS:-$ROOT/bench/results}
WEIR=${WEIR:-$ROOT/bin/weir}
BENCHTOOL=${BENCHTOOL:-$ROOT/bin/benchtool}
WSLOAD=${WSLOAD:-$ROOT/bin/wsload}
FLOORPROXY=${FLOORPROXY:-$ROOT/bin/floorproxy}
SYSCALLS=${BENCH_SYSCALLS:-}
SYSCALLS_DURATION=${BENCH_SYSCALLS_DURATION:-3s}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
HOST=bench.local
# The cipher list of ingress-nginx's ssl-ciphers default (TLS 1.2), and the
# TLS 1.3 suite Go's crypto/tls picks on a CPU with AES instructions, so that
# all three encrypt with the same cipher.
CIPHERS=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256
TLS13_SUITES=TLS_AES_128_GCM_SHA256

for v in "$DURATION" "$WARMUP"; do
	[[ $(seconds "$v") =~ ^[0-9]+$ ]] || die "BENCH_DURATION/BENCH_WARMUP=$v: want Ns or Nm"
done
[[ $DURATION == *[sm] ]] || DURATION=${DURATION}s
[[ $WARMUP == *[sm] ]] || WARMUP=${WARMUP}s
for v in "$ROUNDS" "$CONNS" "$IDLE_CONNS"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS, BENCH_CONNS and BENCH_IDLE_CONNS must be positive numbers, not $v"
done
for s in $SCENARIOS; do
	[[ " keepalive close tls ws 100k idle idle-tls " == *" $s "* ]] || die "BENCH_SCENARIOS: unknown scenario $s"
done
for r in $ROWS; do
	[[ " 1core 1core-log allcores " == *" $r "* ]] || die "BENCH_ROWS: unknown setup $r"
done
for t in $TARGETS; do
	[[ " weir nginx haproxy floor-goroutine floor-epoll floor-uring " == *" $t "* ]] || die "BENCH_TARGETS: unknown target $t"
done
for c in $SYSCALLS; do
	[[ " strace perf record " == *" $c "* ]] || die "BENCH_SYSCALLS: unknown counter $c (want strace, perf or record)"
done
[[ $(seconds "$SYSCALLS_DURATION") =~ ^[0-9]+$ ]] || die "BENCH_SYSCALLS_DURATION=$SYSCALLS_DURATION: want Ns or Nm"
scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# --- tools: install what is missing when root, else skip that target ---------
[[ -x $WEIR && -x $BENCHTOOL && -x $WSLOAD ]] ||
	die "need $WEIR, $BENCHTOOL and $WSLOAD: run 'make bench', which builds them"
[[ " $TARGETS " != *" floor-"* || -x $FLOORPROXY ]] ||
	die "need $FLOORPROXY for the floor targets: run 'make bench', which builds it"
missing=()
want nginx && [[ ! -x $NGINX ]] && missing+=(nginx)
want haproxy && [[ ! -x $HAPROXY ]] && missing+=(haproxy)
command -v wrk >/dev/null || missing+=(wrk)
command -v openssl >/dev/null || missing+=(openssl)
command -v taskset >/dev/null || missing+=(util-linux)
[[ " $SYSCALLS " != *" strace "* ]] || command -v strace >/dev/null || missing+=(strace)
[[ " $SYSCALLS " != *" perf "* && " $SYSCALLS " != *" record "* ]] || command -v perf >/dev/null || missing+=(linux-perf)
if ((${#missing[@]})) && [[ $(id -u) == 0 && ${BENCH_INSTALL:-1} != 0 ]]; then
	echo "$BENCH_PROG: installing ${missing[*]} with apt-get" >&2
	# Debian's maintainer scripts would start nginx and haproxy as services
	# (on port 80); a policy-rc.d that says no keeps them stopped.
	policy=
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
	fi
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 ||
		echo "$BENCH_PROG: apt-get install ${missing[*]} failed" >&2
	[[ -z $policy ]] || rm -f "$policy"
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
fi
command -v wrk >/dev/null || die "wrk is missing: apt-get install wrk (as root, make bench installs it)"
command -v openssl >/dev/null || die "openssl is missing: apt-get install openssl"
command -v taskset >/dev/null || die "taskset is missing: apt-get install util-linux"
for c in $SYSCALLS; do
	t=${c/record/perf}
	command -v "$t" >/dev/null || die "BENCH_SYSCALLS=$c: $t is missing (apt-get install ${t/perf/linux-perf})"
done
if want nginx && [[ ! -x $NGINX ]]; then
	echo "$BENCH_PROG: nginx is missing (apt-get install nginx, as root make bench installs it): skipping nginx" >&2
	TARGETS=${TARGETS//nginx/}
fi
if want haproxy && [[ ! -x $HAPROXY ]]; then
	echo "$BENCH_PROG: haproxy is missing (apt-get install haproxy, as root make bench installs it): skipping haproxy" >&2
	TARGETS=${TARGETS//haproxy/}
fi
read -r -a TARGET_LIST <<<"$TARGETS"
((${#TARGET_LIST[@]})) || die "no target left to run"

# --- limits and CPUs ---------------------------------------------------------
# The idle scenarios hold BENCH_IDLE_CONNS connections: the proxies accept
# MAXCONN connections. Weir and nginx hold one descriptor per idle client
# connection (their upstream connections are a pool), so BENCH_IDLE_CONNS
# needs that many and some; haproxy reserves two per connection (maxsock:
# client side and server side), so where the limit holds fewer, haproxy's
# maxconn and its idle connections are lowered (HAPROXY_IDLE_CONNS), not
# everyone's: bytes per connection are per connection whatever the count.
want_fd=$((2 * (IDLE_CONNS + 1024) + 256))
if (($(ulimit -n) < want_fd)); then
	ulimit -Hn "$want_fd" 2>/dev/null || true
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
if (($(ulimit -n) < IDLE_CONNS + 1024 + 256)); then
	IDLE_CONNS=$(($(ulimit -n) - 1024 - 256))
	((IDLE_CONNS > 0)) || IDLE_CONNS=100
	echo "$BENCH_PROG: open files limited to $(ulimit -n) (hard limit): BENCH_IDLE_CONNS lowered to $IDLE_CONNS" >&2
fi
NOFILE=$(ulimit -n)
MAXCONN=$((IDLE_CONNS + 1024))
HAPROXY_MAXCONN=$(((NOFILE - 256) / 2))
((HAPROXY_MAXCONN < MAXCONN)) || HAPROXY_MAXCONN=$MAXCONN
HAPROXY_IDLE_CONNS=$((HAPROXY_MAXCONN - 1024 < IDLE_CONNS ? HAPROXY_MAXCONN - 1024 : IDLE_CONNS))
((HAPROXY_IDLE_CONNS > 0)) || HAPROXY_IDLE_CONNS=100
((HAPROXY_IDLE_CONNS == IDLE_CONNS)) ||
	echo "$BENCH_PROG: open files limited to $NOFILE: haproxy (two descriptors per connection) holds $HAPROXY_IDLE_CONNS idle connections, the others $IDLE_CONNS" >&2
NCPU=$(nproc)
if ((NCPU >= 2)) && [[ ${BENCH_PIN:-1} != 0 ]]; then
	PROXY_CPUS=0 LOAD_CPUS=1-$((NCPU - 1)) LOAD_NCPU=$((NCPU - 1))
else
	PROXY_CPUS= LOAD_CPUS= LOAD_NCPU=1
	echo "$BENCH_PROG: $NCPU CPU(s), BENCH_PIN=${BENCH_PIN:-1}: nothing is pinned, proxy and load share the CPUs" >&2
fi
CLK_TCK=$(getconf CLK_TCK)

# pin CPUS CMD...: exec CMD on CPUS (taskset -c), or anywhere when CPUS is
# empty. It replaces the shell it runs in: call it only in a subshell, i.e.
# in the background (so that $! is CMD's PID) or in $(...).
pin() {
	local cpus=$1
	shift
	if [[ -n $cpus ]]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

bench_tmp weir-bench
LOGDIR=${BENCH_LOGDIR:-$TMP/logs}
mkdir -p "$LOGDIR" "$RESULTS_DIR"
RUNS=$TMP/runs.tsv
printf '# scenario\trow\ttarget\tround\tfigures\n' >"$RUNS"

# --- helpers -----------------------------------------------------------------



# rss_kb PID...: the sum of VmRSS (kB) of the PIDs.
rss_kb() {
	local pid sum=0 v
	for pid in "$@"; do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# stop_pid PID [SIGNAL]: SIGNAL (TERM), then KILL after 5s; PID leaves $PIDS.
stop_pid() {
	local pid=$1 i
	kill -"${2:-TERM}" "$pid" 2>/dev/null || true
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for i in "${!PIDS[@]}"; do [[ ${PIDS[i]} != "$pid" ]] || unset 'PIDS[i]'; done
}

# --- backends, pinned to the load CPUs ---------------------------------------
BACKEND_PORT=$(free_port)
pin "$LOAD_CPUS" "$BENCHTOOL" backend -listen "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
PIDS+=($!)
wait_ready backend $! "$BACKEND_PORT" "$TMP/backend.log" bench_ok
WS_PORT=$(free_port)
pin "$LOAD_CPUS" "$WSLOAD" -echo "127.0.0.1:$WS_PORT" >"$TMP/ws-backend.log" 2>&1 &
PIDS+=($!)
wait_ready ws-backend $! "$WS_PORT" "$TMP/ws-backend.log" http_ok

# --- one ECDSA P-256 certificate for all -------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST,IP:127.0.0.1" \
	-keyout "$TMP/tls.key" -out "$TMP/tls.crt" 2>"$TMP/openssl.log" ||
	die "openssl could not make the bench certificate: $(cat "$TMP/openssl.log")"
chmod 644 "$TMP/tls.key"
cat "$TMP/tls.crt" "$TMP/tls.key" >"$TMP/tls.pem"

# --- Weir: folder mode, two Ingresses as ingress-nginx would have them -------

mkdir -p "$TMP/manifests"
cat >"$TMP/manifests/bench.yaml" <<EOF
$(backend_manifests "$BACKEND_PORT")
---
$(service_manifests ws "$WS_PORT")
---
$(ingress_manifest bench / bench)
---
$(ingress_manifest bench-ws /ws ws '
    nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"
    nginx.ingress.kubernetes.io/proxy-send-timeout: "3600"')
---
$(tls_secret_manifest)
EOF

# Ports and PIDs of the running targets, by target name.
declare -A PID HTTP HTTPS

# start_weir ROW
start_weir() {
	local row=$1 flags
	HTTP[weir]=$(free_port) HTTPS[weir]=$(free_port)
	flags=(--manifests "$TMP/manifests" --http-port "${HTTP[weir]}" --https-port "${HTTPS[weir]}"
		--metrics-port "$(free_port)" --bind-address 127.0.0.1)
	[[ $row == 1core-log ]] || flags+=(--access-log=false)
	if [[ $row == allcores ]]; then
		"$WEIR" "${flags[@]}" --workers auto --xdp-mode off >"$LOGDIR/weir-$row.log" 2>"$TMP/weir.log" &
	else
		GOMAXPROCS=1 pin "$PROXY_CPUS" "$WEIR" "${flags[@]}" --workers 0 >"$LOGDIR/weir-$row.log" 2>"$TMP/weir.log" &
	fi
	PID[weir]=$!
	PIDS+=($!)
	wait_ready weir "${PID[weir]}" "${HTTP[weir]}" "$TMP/weir.log" bench_ok
}

# start_nginx ROW: nginx configured as ingress-nginx's nginx.tmpl configures
# this Ingress (headers, upstream keepalive, timeouts, TLS, log format).
start_nginx() {
	local row=$1 n=$TMP/nginx workers=1 log="access_log off;" cpus=$PROXY_CPUS
	HTTP[nginx]=$(free_port) HTTPS[nginx]=$(free_port)
	[[ $row != allcores ]] || { workers=$NCPU cpus=; }
	[[ $row != 1core-log ]] || log="access_log $LOGDIR/nginx-$row.log upstreaminfo buffer=64k flush=1s if=\$loggable;"
	mkdir -p "$n/logs" "$n/tmp"
	# The headers of nginx.tmpl's location block, for both locations.
	cat >"$n/headers.conf" <<'EOF'
proxy_set_header Host                      $best_http_host;
proxy_set_header Upgrade                   $http_upgrade;
proxy_set_header Connection                $connection_upgrade;
proxy_set_header X-Request-ID              $req_id;
proxy_set_header X-Real-IP                 $remote_addr;
proxy_set_header X-Forwarded-For           $remote_addr;
proxy_set_header X-Forwarded-Host          $best_http_host;
proxy_set_header X-Forwarded-Port          $pass_port;
proxy_set_header X-Forwarded-Proto         $pass_access_scheme;
proxy_set_header X-Forwarded-Scheme        $pass_access_scheme;
proxy_set_header X-Scheme                  $pass_access_scheme;
proxy_set_header X-Original-Forwarded-For  $http_x_forwarded_for;
proxy_set_header X-Original-Forwarded-Host $http_x_forwarded_host;
proxy_set_header Proxy                     "";
proxy_http_version 1.1;
proxy_buffering off;
proxy_buffer_size 4k;
proxy_request_buffering on;
proxy_connect_timeout 5s;
proxy_next_upstream error timeout;
EOF
	cat >"$n/nginx.conf" <<EOF
worker_processes $workers;
worker_rlimit_nofile $NOFILE;
pid $n/nginx.pid;
error_log $n/logs/error.log warn;
events {
    worker_connections $MAXCONN;
    multi_accept on;
    use epoll;
}
http {
    client_body_temp_path $n/tmp/body;
    proxy_temp_path $n/tmp/proxy;
    fastcgi_temp_path $n/tmp/fastcgi;
    uwsgi_temp_path $n/tmp/uwsgi;
    scgi_temp_path $n/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    reset_timedout_connection on;
    keepalive_timeout 75s;
    keepalive_requests 1000;
    client_header_buffer_size 1k;
    large_client_header_buffers 4 8k;
    server_tokens off;
    # ingress-nginx: log-format-upstream, the default upstreaminfo.
    log_format upstreaminfo '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent "\$http_referer" "\$http_user_agent" \$request_length \$request_time [\$proxy_upstream_name] [\$proxy_alternative_upstream_name] \$upstream_addr \$upstream_response_length \$upstream_response_time \$upstream_status \$req_id';
    map \$request_uri \$loggable { default 1; }
    $log
    map \$scheme \$hsts { https "max-age=31536000; includeSubDomains"; default ""; }
    map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
    map \$http_x_request_id \$req_id { default \$http_x_request_id; "" \$request_id; }
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers '$CIPHERS';
    ssl_conf_command Ciphersuites $TLS13_SUITES;
    ssl_prefer_server_ciphers on;
    ssl_ecdh_curve auto;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 10m;
    ssl_session_tickets off;
    ssl_buffer_size 4k;
    upstream bench {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 320;
        keepalive_time 1h;
        keepalive_timeout 60s;
        keepalive_requests 10000;
    }
    upstream ws {
        server 127.0.0.1:$WS_PORT;
        keepalive 320;
        keepalive_timeout 60s;
        keepalive_requests 10000;
    }
    server {
        listen 127.0.0.1:${HTTP[nginx]} reuseport backlog=4096;
        listen 127.0.0.1:${HTTPS[nginx]} reuseport backlog=4096 ssl;
        server_name $HOST;
        ssl_certificate $TMP/tls.crt;
        ssl_certificate_key $TMP/tls.key;
        set \$proxy_upstream_name "default-bench-80";
        set \$proxy_alternative_upstream_name "";
        set \$best_http_host \$http_host;
        set \$pass_access_scheme \$scheme;
        set \$pass_port \$server_port;
        # ingress-nginx's hsts (default on): HTTPS answers only.
        add_header Strict-Transport-Security \$hsts always;
        location /ws {
            set \$proxy_upstream_name "default-ws-80";
            include $n/headers.conf;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_pass http://ws;
        }
        location / {
            include $n/headers.conf;
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
            proxy_pass http://bench;
        }
    }
}
EOF
	pin "$cpus" "$NGINX" -p "$n" -c "$n/nginx.conf" -e "$n/logs/error.log" -g 'daemon off;' >"$n/logs/stdout.log" 2>&1 &
	PID[nginx]=$!
	PIDS+=($!)
	wait_ready nginx "${PID[nginx]}" "${HTTP[nginx]}" "$n/logs/error.log" bench_ok
}

# start_haproxy ROW: the same job in haproxy: keep-alive to the backends
# (http-reuse always, as nginx's keepalive pool), the same request headers,
# the same certificate and ciphers, httplog in the log setup.
start_haproxy() {
	local row=$1 h=$TMP/haproxy threads=1 cpus=$PROXY_CPUS log_global= log_defaults="no log"
	HTTP[haproxy]=$(free_port) HTTPS[haproxy]=$(free_port)
	[[ $row != allcores ]] || { threads=$NCPU cpus=; }
	if [[ $row == 1core-log ]]; then
		log_global="log stdout format raw local0 info"
		log_defaults=$'log global\n    option httplog'
	fi
	mkdir -p "$h"
	cat >"$h/haproxy.cfg" <<EOF
global
    nbthread $threads
    maxconn $HAPROXY_MAXCONN
    $log_global
    ssl-default-bind-ciphers $CIPHERS
    ssl-default-bind-ciphersuites $TLS13_SUITES
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
    tune.ssl.cachesize 40000

defaults
    mode http
    $log_defaults
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 60s
    timeout http-keep-alive 75s
    timeout tunnel 3600s

frontend bench
    bind 127.0.0.1:${HTTP[haproxy]}
    bind 127.0.0.1:${HTTPS[haproxy]} ssl crt $TMP/tls.pem alpn http/1.1
    # nginx.tmpl's proxy_set_header lines, in haproxy's words.
    unique-id-format %[rand,hex]%[rand,hex]
    http-request set-header X-Request-ID %[unique-id] unless { req.hdr(x-request-id) -m found }
    http-request set-header X-Original-Forwarded-For %[req.hdr(x-forwarded-for)] if { req.hdr(x-forwarded-for) -m found }
    http-request set-header X-Original-Forwarded-Host %[req.hdr(x-forwarded-host)] if { req.hdr(x-forwarded-host) -m found }
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-For %[src]
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-header X-Forwarded-Port %[dst_port]
    http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]
    http-request set-header X-Forwarded-Scheme %[ssl_fc,iif(https,http)]
    http-request set-header X-Scheme %[ssl_fc,iif(https,http)]
    http-request del-header Proxy
    http-response set-header Strict-Transport-Security "max-age=31536000; includeSubDomains" if { ssl_fc }
    use_backend ws if { path_beg /ws }
    default_backend bench

backend bench
    server bench 127.0.0.1:$BACKEND_PORT

backend ws
    timeout server 3600s
    server ws 127.0.0.1:$WS_PORT
EOF
	"$HAPROXY" -c -q -f "$h/haproxy.cfg" >"$h/check.log" 2>&1 || die "haproxy rejects its configuration: $(cat "$h/check.log")"
	pin "$cpus" "$HAPROXY" -db -f "$h/haproxy.cfg" >"$LOGDIR/haproxy-$row.log" 2>"$h/haproxy.log" &
	PID[haproxy]=$!
	PIDS+=($!)
	wait_ready haproxy "${PID[haproxy]}" "${HTTP[haproxy]}" "$h/haproxy.log" bench_ok
}

# start_floor MODE ROW: bin/floorproxy -mode MODE (target floor-MODE), the
# floor of issue 9: no parsing, an upstream connection per client
# connection, the bytes unchanged; GOMAXPROCS=1 on the proxy CPU, as Weir.
start_floor() {
	local mode=$1 t=floor-$1 row=$2
	HTTP[$t]=$(free_port)
	GOMAXPROCS=1 pin "$PROXY_CPUS" "$FLOORPROXY" -mode "$mode" -listen "127.0.0.1:${HTTP[$t]}" \
		-upstream "127.0.0.1:$BACKEND_PORT" >"$TMP/$t.log" 2>&1 &
	PID[$t]=$!
	PIDS+=($!)
	wait_ready "$t" "${PID[$t]}" "${HTTP[$t]}" "$TMP/$t.log" bench_ok
}
start_floor-goroutine() { start_floor goroutine "$1"; }
start_floor-epoll() { start_floor epoll "$1"; }
start_floor-uring() { start_floor uring "$1"; }

# applies TARGET SCENARIO ROW: TARGET runs in SCENARIO and ROW. The floors
# forward bytes to the one backend: no TLS, no /ws route; and they are one
# loop, measured on one core.
applies() {
	[[ $1 != floor-* ]] && return 0
	[[ $3 == 1core && " keepalive close 100k idle " == *" $2 "* ]]
}

start_target() { "start_$1" "$2"; }
stop_target() { stop_pid "${PID[$1]}"; }

# --- measuring -----------------------------------------------------------------

# load_cpus ROW: where wrk and wsload run.
load_cpus() { if [[ $1 == allcores ]]; then echo ""; else echo "$LOAD_CPUS"; fi; }

# run_load SCENARIO ROW TARGET DURATION: load TARGET once; print the
# key=value figures of the load generator (requests, rps, p50_us, p99_us,
# errors).
run_load() {
	local sc=$1 row=$2 t=$3 d=$4 cpus threads out scheme=http port=${HTTP[$3]} path=/bench hdr=()
	cpus=$(load_cpus "$row")
	if [[ $sc == ws ]]; then
		out=$(pin "$cpus" timeout $(($(seconds "$d") + 60)) "$WSLOAD" -url "ws://127.0.0.1:$port/ws" -host "$HOST" \
			-conns "$CONNS" -size 1024 -duration "$d") || die "wsload against $t failed: $out"
		awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}}
			END {if (v["messages"] == "") exit 1
				printf "requests=%s rps=%s p50_us=%s p99_us=%s errors=%s\n", v["messages"], v["msgs_per_s"], v["p50_us"], v["p99_us"], v["errors"]}' <<<"$out" ||
			die "cannot parse wsload output for $t: $out"
		return
	fi
	case $sc in
	close) hdr=(-H "Connection: close") ;;
	tls) scheme=https port=${HTTPS[$t]} ;;
	100k) path=/100k ;;
	esac
	threads=${BENCH_THREADS:-$([[ $row == allcores ]] && echo "$NCPU" || echo "$LOAD_NCPU")}
	((threads <= CONNS)) || threads=$CONNS
	out=$(pin "$cpus" timeout $(($(seconds "$d") + 60)) wrk -t"$threads" -c"$CONNS" -d"$d" --timeout 5s --latency \
		-H "Host: $HOST" "${hdr[@]}" "$scheme://127.0.0.1:$port$path" 2>&1) || die "wrk against $t failed: $out"
	"$BENCHTOOL" wrk <<<"$out" || die "cannot parse wrk output for $t: $out"
}

# measure SCENARIO ROW TARGET ROUND: warm up, then one measured run with the
# CPU time (all, and user) and RSS of the target's process tree; appends to
# $RUNS.
measure() {
	local sc=$1 row=$2 t=$3 round=$4 pids before after ubefore uafter figs reqs cpu_us usr_us rss
	run_load "$sc" "$row" "$t" "$WARMUP" >/dev/null
	mapfile -t pids < <(tree "${PID[$t]}")
	before=$(cpu_ticks "${pids[@]}")
	ubefore=$(user_ticks "${pids[@]}")
	figs=$(run_load "$sc" "$row" "$t" "$DURATION")
	after=$(cpu_ticks "${pids[@]}")
	uafter=$(user_ticks "${pids[@]}")
	rss=$(rss_kb "${pids[@]}")
	reqs=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$figs")
	[[ -z $SYSCALLS ]] || figs+=$(count_syscalls "$sc" "$row" "$t" "${pids[@]}")
	[[ ${reqs:-0} != 0 ]] || echo "$BENCH_PROG: warning: no request completed through $t ($sc, $row, round $round): a stuck proxy or an overloaded machine (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="${reqs:-0}" 'BEGIN {printf "%.3f", n ? t / hz * 1e6 / n : 0}')
	usr_us=$(awk -v t=$((uafter - ubefore)) -v hz="$CLK_TCK" -v n="${reqs:-0}" 'BEGIN {printf "%.3f", n ? t / hz * 1e6 / n : 0}')
	printf '%s\t%s\t%s\t%s\t%s cpu_us=%s usr_us=%s rss_kb=%s\n' "$sc" "$row" "$t" "$round" "$figs" "$cpu_us" "$usr_us" "$rss" >>"$RUNS"
	printf '  %-9s %-9s %-8s round %s: %s cpu_us=%s usr_us=%s rss_kb=%s\n' "$sc" "$row" "$t" "$round" "$figs" "$cpu_us" "$usr_us" "$rss" >&2
}

# count_syscalls SCENARIO ROW TARGET PID...: for each counter of
# $BENCH_SYSCALLS, one more load run of $SYSCALLS_DURATION with the system
# calls of the PIDs (every thread) counted; prints " key=value" figures, per
# request: strace_calls and strace_<call> for each line of strace -c's table,
# perf_calls and perf_cs (context switches: the proxy's threads going to
# sleep or preempted) from perf stat. strace stops the proxy at every call, so its run
# is slower and an event loop then finds more events per wait; perf counts
# in the kernel, at about full speed.
count_syscalls() {
	local sc=$1 row=$2 t=$3 c cpid figs reqs out=$TMP/syscalls.txt
	shift 3
	for c in $SYSCALLS; do
		rm -f "$out"
		if [[ $c == strace ]]; then
			strace -f -c -q -o "$out" $(printf -- '-p %s ' "$@") &
		elif [[ $c == record ]]; then
			perf record -q -e cpu-clock -o "$TMP/perf.data" -p "$(IFS=,; echo "$*")" 2>/dev/null &
		else
			perf stat -x, -e raw_syscalls:sys_enter,context-switches -o "$out" -p "$(IFS=,; echo "$*")" &
		fi
		cpid=$!
		PIDS+=("$cpid")
		sleep 1 # strace and perf attach to every thread before the load starts
		figs=$(run_load "$sc" "$row" "$t" "$SYSCALLS_DURATION")
		stop_pid "$cpid" INT
		reqs=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$figs")
		if [[ $c == record ]]; then
			{
				echo "# $t $sc $row round $round: $figs" # round: measure's
				perf report -i "$TMP/perf.data" --stdio --no-children --sort dso 2>/dev/null
				perf report -i "$TMP/perf.data" --stdio --no-children --sort dso,sym 2>/dev/null
			} >"$LOGDIR/profile-$t-$sc-$row-$round.txt"
			rm -f "$TMP/perf.data"
			continue
		fi
		[[ ${reqs:-0} != 0 && -s $out ]] || { echo "$BENCH_PROG: warning: $c counted nothing for $t" >&2; continue; }
		if [[ $c == strace ]]; then
			# % time, seconds, usecs/call, calls, [errors,] syscall
			awk -v n="$reqs" '$1 ~ /^[0-9.]+$/ && NF >= 5 {printf " strace_%s=%.3f", $NF == "total" ? "calls" : $NF, $4 / n}' "$out"
		else
			awk -F, -v n="$reqs" '$3 == "raw_syscalls:sys_enter" {printf " perf_calls=%.3f", $1 / n}
				$3 == "context-switches" {printf " perf_cs=%.4f", $1 / n}' "$out"
		fi
	done
}

# measure_idle SCENARIO TARGET ROUND: a fresh 1core TARGET; its RSS before
# and after BENCH_IDLE_CONNS idle keep-alive connections.
measure_idle() {
	local sc=$1 t=$2 round=$3 pids before after port flags=() idle_pid i n=$IDLE_CONNS
	[[ $t != haproxy ]] || n=$HAPROXY_IDLE_CONNS
	start_target "$t" 1core
	port=${HTTP[$t]}
	[[ $sc != idle-tls ]] || { port=${HTTPS[$t]} flags=(-tls); }
	mapfile -t pids < <(tree "${PID[$t]}")
	before=$(rss_kb "${pids[@]}")
	# Emptied here: the shell empties it only once the child runs, and the
	# "open" of the previous run must not be found meanwhile.
	: >"$TMP/idle.out"
	pin "$LOAD_CPUS" "$BENCHTOOL" idle -addr "127.0.0.1:$port" -host "$HOST" -n "$n" "${flags[@]}" \
		-hold 10m >"$TMP/idle.out" 2>&1 &
	idle_pid=$!
	PIDS+=("$idle_pid")
	for i in $(seq 1800); do # up to 3 minutes
		grep -q '^open ' "$TMP/idle.out" && break
		kill -0 "$idle_pid" 2>/dev/null || die "benchtool idle against $t failed: $(cat "$TMP/idle.out")"
		sleep 0.1
	done
	grep -q '^open ' "$TMP/idle.out" || die "benchtool idle against $t: not all $n connections open after 3 minutes"
	after=$(rss_kb "${pids[@]}")
	stop_pid "$idle_pid"
	stop_target "$t"
	printf '%s\t1core\t%s\t%s\tconns=%s rss_before_kb=%s rss_after_kb=%s bytes_per_conn=%s\n' "$sc" "$t" "$round" \
		"$n" "$before" "$after" $(((after - before) * 1024 / n)) >>"$RUNS"
	printf '  %-9s %-9s %-8s round %s: rss %s -> %s kB, %s bytes/conn\n' "$sc" 1core "$t" "$round" "$before" "$after" \
		$(((after - before) * 1024 / n)) >&2
}

# rotated ROUND: the targets in the order of round ROUND (1-based).
rotated() {
	local n=${#TARGET_LIST[@]} i
	for ((i = 0; i < n; i++)); do echo "${TARGET_LIST[(i + $1 - 1) % n]}"; done
}

# --- run -----------------------------------------------------------------------
DATE=$(date -u +%Y-%m-%d)
versions="Weir $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "?")"
want nginx && versions+=", $("$NGINX" -v 2>&1 | sed 's/.*: //')"
want haproxy && versions+=", haproxy $("$HAPROXY" -v 2>&1 | awk 'NR == 1 {print $3}')"
versions+=", $(wrk -v 2>&1 | awk 'NR == 1 {print $1, $2}'), $(go version 2>/dev/null | awk '{print $3}')"
model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
ABOUT="$NCPU CPUs (${model:-unknown}), Linux $(uname -r); $versions. $ROUNDS rounds of $DURATION per target after a $WARMUP warm-up, $CONNS connections; idle scenarios: $IDLE_CONNS connections$( ((HAPROXY_IDLE_CONNS == IDLE_CONNS)) || ! want haproxy || echo " (haproxy $HAPROXY_IDLE_CONNS: two descriptors per connection)"). One-core setups: proxy on CPU ${PROXY_CPUS:-any}, load and backends on CPUs ${LOAD_CPUS:-any}. Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "weir bench: $ABOUT" >&2
# On a busy machine a proxy that sleeps between events (nginx, haproxy) waits
# for a CPU at every wake-up, and one that spins (Go) does not: the ratios
# then measure the neighbours.
if awk -v n="$NCPU" '{exit !($1 > n / 4)}' /proc/loadavg; then
	echo "$BENCH_PROG: warning: the machine is busy (load average $(cut -d' ' -f1 /proc/loadavg) on $NCPU CPUs): expect noise, run on a quiet machine" >&2
fi
echo "targets: ${TARGET_LIST[*]}; setups: $ROWS; scenarios: $SCENARIOS; access logs in $LOGDIR" >&2

for row in $ROWS; do
	loads=()
	for sc in $SCENARIOS; do [[ $sc == idle* ]] || loads+=("$sc"); done
	((${#loads[@]})) || continue
	echo "setup $row" >&2
	started=()
	for t in "${TARGET_LIST[@]}"; do
		for sc in "${loads[@]}"; do applies "$t" "$sc" "$row" && { started+=("$t"); break; }; done
	done
	for t in "${started[@]}"; do start_target "$t" "$row"; done
	for sc in "${loads[@]}"; do
		for ((r = 1; r <= ROUNDS; r++)); do
			for t in $(rotated "$r"); do applies "$t" "$sc" "$row" && measure "$sc" "$row" "$t" "$r"; done
		done
	done
	for t in "${started[@]}"; do stop_target "$t"; done
done
for sc in idle idle-tls; do
	scenario "$sc" || continue
	for ((r = 1; r <= ROUNDS; r++)); do
		for t in $(rotated "$r"); do applies "$t" "$sc" 1core && measure_idle "$sc" "$t" "$r"; done
	done
done

cp "$RUNS" "$RESULTS_DIR/$DATE-runs.tsv"
"$BENCHTOOL" report -in "$RUNS" -out "$RESULTS_DIR" -date "$DATE" -about "$ABOUT"
echo "results in $RESULTS_DIR/$DATE-*.md" >&2
