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
# WEIR_WS_EPOLL is passed on (1: the relay loop, wsloop.go). The work is
# bench/callgrind.sh's, with WEIR_CG_WS=1.
WEIR_CG_WS=1 exec "$(dirname "$0")/callgrind.sh" "$@"
