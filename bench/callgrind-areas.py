#!/usr/bin/env python3
# bench/callgrind-areas.py DUMP REQUESTS [DUMP REQUESTS ...]: the exclusive
# instructions per request of callgrind dumps (bench/callgrind.sh), by area:
# Weir's packages, the runtime's scheduler, timers, malloc and GC, maps,
# bytes and strings, one column a dump.
import collections
import re
import subprocess
import sys

def area(fn):
    fn=re.sub(r'^github.com/weir-lb/weir/','',fn)
    if fn.startswith('github.com/prometheus'): return 'prometheus'
    for a in ['l7/proxy','l7/h1server','l7/h1guard','l7/router','l7/connlimit','l7/arena','l7/']:
        if fn.startswith(a): return a.rstrip('/') if a!='l7/' else 'l7/other'
    if re.match(r'(runtime|internal/runtime)\.(gc|mark|scan|sweep|.*[wW]rite[bB]arrier|wbBuf|greyobject|heapBits|findObject|bulkBarrier)',fn) or 'mgc' in fn: return 'runtime-gc'
    if re.match(r'(runtime|internal/runtime/maps)\.(mallocgc|newobject|makeslice|growslice|nextFreeFast|.*[mM]span|mcache|mcentral|memclr)',fn): return 'runtime-malloc'
    if re.match(r'runtime\.(schedule|findRunnable|park_m|gopark|goready|ready|execute|runqget|runqput|casgstatus|mcall|netpoll|goexit|gogo|wakep|startm|stopm|mPark|notesleep|futex|checkTimers|resetspinning|injectglist|netpollblock|netpollready|netpollunblock|gosched|lock|unlock)',fn): return 'runtime-sched'
    if re.match(r'runtime\.(.*[tT]imer|.*siftDown|.*siftUp|nanotime|walltime)|time\.',fn) or 'timer' in fn: return 'time/timers'
    if fn.startswith('internal/runtime/maps') or 'aeshash' in fn or 'mapaccess' in fn or 'mapassign' in fn or 'mapIter' in fn or 'mapdelete' in fn or 'mapclear' in fn: return 'maps'
    if fn.startswith('runtime') or fn.startswith('internal/runtime'): return 'runtime-other'
    if fn.startswith('internal/poll') or fn.startswith('net.') or fn.startswith('syscall') or fn.startswith('golang.org/x/sys'): return 'poll/net/syscall'
    if fn.startswith('sync'): return 'sync'
    if fn.startswith('net/textproto') or fn.startswith('net/http'): return 'net/http+textproto'
    if fn.startswith('bufio'): return 'bufio'
    if 'memmove' in fn or 'memeq' in fn or 'indexbyte' in fn or 'cmpbody' in fn or fn.startswith('bytes') or fn.startswith('strings') or fn.startswith('internal/bytealg') or fn.startswith('internal/stringslite') or 'indexbody' in fn: return 'bytes/strings/mem'
    if fn.startswith('internal/chacha8rand'): return 'rand'
    return 'other'
cols=[]
for f,r in zip(sys.argv[1::2],sys.argv[2::2]):
    out=subprocess.run(['callgrind_annotate','--threshold=100',f],capture_output=True,text=True).stdout
    c=collections.Counter(); seen=set()
    for line in out.split('\n'):
        m=re.match(r'\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+):(\S+)',line)
        if not m or 'PROGRAM' in line: continue
        fn=m.group(3)
        if fn in ('runtime.mstart0','runtime.mstart1','runtime.mstart.abi0','threadentry','clone','start_thread','runtime/cgo(.text)'): continue
        c[area(fn)]+=int(m.group(1).replace(',',''))
    cols.append({k:v/float(r) for k,v in c.items()})
keys=sorted(set().union(*cols),key=lambda k:-cols[0].get(k,0))
for k in keys: print("%-22s"%k+"".join("%9.0f"%col.get(k,0) for col in cols))
print("%-22s"%'TOTAL'+"".join("%9.0f"%sum(col.values()) for col in cols))
