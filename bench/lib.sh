# bench/lib.sh: helpers shared by the benchmark scripts (bench.sh, quick.sh,
# ws.sh).
# Source it after setting BENCH_PROG (the script's name, for messages),
# TARGETS and HOST; call bench_tmp once the tools are checked.

die() { echo "$BENCH_PROG: $*" >&2; exit 1; }

# want TARGET: TARGET is among $TARGETS.
want() { [[ " $TARGETS " == *" $1 "* ]]; }

# bench_tmp PREFIX: make $TMP, and on exit stop only the PIDs in $PIDS (TERM,
# then KILL after 5s) and remove $TMP.
bench_tmp() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	chmod 755 "$TMP" # nginx workers may run as another user
	: >"$TMP/used-ports"
	PIDS=()
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		# Bounded wait: TERM, then KILL after 5s.
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}

# free_port prints a 127.0.0.1 TCP port nothing listens on and no earlier
# call gave. The ports given are kept in a file: callers run it in $(...).
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-), where outgoing connections take ports
		grep -qx "$p" "$TMP/used-ports" && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p" >>"$TMP/used-ports"
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# wait_ready NAME PID PORT LOG PROBE: wait up to 15s for `PROBE PORT` to
# succeed, failing early (with LOG's tail) if PID dies.
wait_ready() {
	local name=$1 pid=$2 port=$3 log=$4 probe=$5
	for _ in $(seq 150); do
		"$probe" "$port" && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$BENCH_PROG: $name exited; its log:" >&2
			tail -n 30 "$log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
	echo "$BENCH_PROG: $name not ready ($probe) on 127.0.0.1:$port after 15s; its log:" >&2
	tail -n 30 "$log" >&2 || true
	exit 1
}

# tree PID prints PID and all its descendants (nginx: master and workers;
# Weir: supervisor and workers), from one pass over /proc.
tree() {
	local f stat fields
	for f in /proc/[0-9]*/stat; do
		stat=$(cat "$f" 2>/dev/null) || continue
		read -r -a fields <<<"${stat##*) }" # state ppid ...
		f=${f#/proc/}
		echo "${f%/stat} ${fields[1]:-0}"
	done | awk -v root="$1" '{parent[$1] = $2; pid[NR] = $1}
		END {
			keep[root] = 1
			print root
			do {
				grew = 0
				for (i = 1; i <= NR; i++) {
					p = pid[i]
					if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; print p; grew = 1 }
				}
			} while (grew)
		}'
}

# cpu_ticks PID...: sum of utime+stime (clock ticks) of the PIDs.
cpu_ticks() { stat_ticks 1 "$@"; }

# user_ticks PID...: sum of utime (clock ticks) of the PIDs: the part of
# cpu_ticks spent in the process's own code, not in the kernel.
user_ticks() { stat_ticks 0 "$@"; }

# stat_ticks SYS PID...: sum of utime, plus stime if SYS is 1, of the PIDs.
stat_ticks() {
	local sys=$1 pid stat f sum=0
	shift
	for pid in "$@"; do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		stat=${stat##*) }
		# Fields after comm, from 3 (state): utime is 14, stime 15.
		read -r -a f <<<"$stat"
		sum=$((sum + f[11] + sys * f[12]))
	done
	echo "$sum"
}

# backend_manifests PORT prints the IngressClass (default), the Service
# "bench" and its EndpointSlice for a backend on 127.0.0.1:PORT; the caller
# adds its Ingress.
backend_manifests() {
	cat <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: weir
  annotations:
    ingressclass.kubernetes.io/is-default-class: "true"
spec:
  controller: weir-lb.dev/ingress-controller
---
EOF
	service_manifests bench "$1"
}

# service_manifests NAME PORT prints the Service NAME (port 80, named http)
# and its EndpointSlice for a backend on 127.0.0.1:PORT.
service_manifests() {
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $1}
spec:
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $1-1
  labels: {kubernetes.io/service-name: $1}
addressType: IPv4
ports: [{name: http, port: $2, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
EOF
}

# seconds converts a duration (10, 10s, 2m) to whole seconds.
seconds() {
	case $1 in
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

# get_ok PORT PATH WANT: a GET of PATH with Host $HOST on 127.0.0.1:PORT
# answers 200 with a body containing WANT.
get_ok() {
	local out
	out=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$2" "$3" >&3
		cat <&3' _ "$1" "$2" "$HOST" 2>/dev/null) || return 1
	[[ $out == "HTTP/1.1 200"* && $out == *"$3"* ]]
}

# bench_ok PORT: GET /bench answers the bench body ("hello, weir!").
bench_ok() { get_ok "$1" /bench 'hello, weir!'; }

# http_ok PORT: GET / answers 200 (the WebSocket echo backend does).
http_ok() { get_ok "$1" / ''; }

# ingress_manifest NAME PATH SERVICE [ANNOTATIONS]: an Ingress for $HOST
# routing the Prefix PATH to SERVICE:80, with TLS from the Secret bench-tls
# and ssl-redirect "false" (so that plain HTTP stays plain), plus ANNOTATIONS
# (YAML lines indented by 4).
ingress_manifest() {
	cat <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: $1
  annotations:
    nginx.ingress.kubernetes.io/ssl-redirect: "false"${4:-}
spec:
  ingressClassName: weir
  tls: [{hosts: [$HOST], secretName: bench-tls}]
  rules:
  - host: $HOST
    http:
      paths:
      - {path: $2, pathType: Prefix, backend: {service: {name: $3, port: {number: 80}}}}
EOF
}

# tls_secret_manifest prints the kubernetes.io/tls Secret bench-tls holding
# $TMP/tls.crt and $TMP/tls.key.
tls_secret_manifest() {
	cat <<EOF
apiVersion: v1
kind: Secret
metadata: {name: bench-tls}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$TMP/tls.crt")
  tls.key: $(base64 -w0 "$TMP/tls.key")
EOF
}
