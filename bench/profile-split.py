#!/usr/bin/env python3
"""bench/profile-split.py: where a proxy's CPU goes, per request, from the
profiles of `BENCH_SYSCALLS=record` (bench.sh writes them to BENCH_LOGDIR as
profile-TARGET-SCENARIO-ROW-ROUND.txt).

    bench/profile-split.py FILE...           # e.g. bench/profile-split.py /tmp/logs/profile-*-keepalive-1core-*.txt

For each file: µs a request (the event count of perf's cpu-clock, in ns,
over the run's requests) in the kernel, in the proxy's own code, in its
libraries and in the vDSO; then the TOP symbols outside the kernel by µs a
request. Set TOP (default 15) for more or fewer symbols.
"""
import os
import re
import sys

def split(path):
    text = open(path).read()
    m = re.search(r'requests=(\d+)', text.splitlines()[0])
    ev = re.search(r'Event count \(approx\.\): (\d+)', text)
    if not m or not ev:
        sys.exit(f'{path}: no requests= figure or event count: not a bench.sh profile')
    per = float(ev.group(1)) / int(m.group(1)) / 1000  # µs a request
    dsos, syms = {}, []
    # The first report is by object alone: "  12.34%  object"; the second
    # by object and symbol: "  1.23%  object  [k] symbol".
    for line in text.splitlines():
        o = re.match(r'\s+([\d.]+)%\s+(\S+)\s*$', line)
        if o:
            dsos[o.group(2)] = float(o.group(1)) / 100 * per
            continue
        s = re.match(r'\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)', line)
        if s and s.group(3) != 'k':
            syms.append((float(s.group(1)) / 100 * per, s.group(2), s.group(4).strip()))
    return per, dsos, syms

def main():
    top = int(os.environ.get('TOP', '15'))
    for path in sys.argv[1:]:
        per, dsos, syms = split(path)
        kernel = dsos.pop('[kernel.kallsyms]', 0.0)
        print(f'{os.path.basename(path)}: {per:.2f} µs a request: kernel {kernel:.2f}, user {per - kernel:.2f} (' +
              ', '.join(f'{d} {v:.2f}' for d, v in sorted(dsos.items(), key=lambda kv: -kv[1])) + ')')
        for us, dso, sym in sorted(syms, reverse=True)[:top]:
            print(f'  {us:6.3f}  {dso:12.12s}  {sym[:100]}')

if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main()
