# bench/lib.sh: helpers shared by the benchmark scripts (quick.sh, ws.sh).
# Source it after setting BENCH_PROG (the script's name, for messages) and
# TARGETS; call bench_tmp once the tools are checked.

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

# tree PID prints PID and its direct children (nginx: master and workers).
tree() {
	local f stat fields
	echo "$1"
	for f in /proc/[0-9]*/stat; do
		stat=$(cat "$f" 2>/dev/null) || continue
		read -r -a fields <<<"${stat##*) }" # state ppid ...
		if [[ ${fields[1]:-} == "$1" ]]; then
			f=${f#/proc/}
			echo "${f%/stat}"
		fi
	done
}

# cpu_ticks PID...: sum of utime+stime (clock ticks) of the PIDs.
cpu_ticks() {
	local pid stat f sum=0
	for pid in "$@"; do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		stat=${stat##*) }
		# Fields after comm, from 3 (state): utime is 14, stime 15.
		read -r -a f <<<"$stat"
		sum=$((sum + f[11] + f[12]))
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
apiVersion: v1
kind: Service
metadata: {name: bench}
spec:
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: bench-1
  labels: {kubernetes.io/service-name: bench}
addressType: IPv4
ports: [{name: http, port: $1, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
EOF
}
