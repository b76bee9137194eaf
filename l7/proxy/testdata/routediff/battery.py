# routediff recorder (not a test): sends every request to nginx 1.22.1 running
# nginx.conf on 127.0.0.1:26180 and to `weir --manifests` of manifests.yaml on
# 127.0.0.1:26080, both in front of echo upstreams s1..s8 on
# 127.0.0.1:25100-25107 (each answers "NAME REQUEST-LINE"), writes
# results.json and prints the differences. answers.json is its host, path and
# nginx columns; TestRouteDiff replays them against Weir.
import socket, sys, json
NG, WE = 26180, 26080
def ask(port, host, path):
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(3)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin1"))
    data = b""
    while True:
        try: c = s.recv(65536)
        except socket.timeout: break
        if not c: break
        data += c
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0].split(b" ")[1].decode() if head else "ERR"
    line = body.decode("latin1").split("\n")[0] if status == "200" else ""
    if status.startswith("3"):
        line = next((h[10:].decode("latin1") for h in head.split(b"\r\n") if h.lower().startswith(b"location: ")), "")
    if status == "200" and not line.startswith("s"): line = ""
    return f"{status} {line}".strip()
bases = {
 "mix.test": ["/", "/exact", "/foo", "/foo/bar", "/foobar", "/trail/", "/trail", "/a.b", "/Case", "/dup", "/zzz"],
 "re.test": ["/", "/users/abc", "/api/v1/", "/img/x.png", "/trail/", "/plain", "/exact", "/app/x", "/app/y", "/app", "/appz", "/a.b", "/exa", "/zzz"],
 "rw.test": ["/", "/something", "/something/", "/something/a/b", "/other", "/strip", "/ex", "/zzz"],
 "pcre.test": ["/neg/a", "/neg/x", "/id/12", "/id/12%0A", "/id/12%0Ax", "/static", "/%C5%BFtatic", "/%E2%84%AA", "/K"],
 "q.wild.test": ["/", "/w", "/w/x"], "al.test": ["/w", "/"], "x.wild.test": ["/w", "/"], "a.b.wild.test": ["/w"],
 "b.test": ["/b", "/", "/bb"], "other.test": ["/", "/nohost", "/nohost/x", "/nohostx"],
}
def variants(p):
    out = {p}
    out |= {p + "/", p + "x", p + "/x", p + "/x/y", p + "?a=1&b=%20", p + "/?q", p.upper(), p.capitalize(), p.swapcase()}
    if len(p) > 2:
        out |= {p[:-1], p[:len(p)//2], p.replace("/", "//"), "/." + p, p + "/.", p + "/..", p + "/../zzz", "/x/.." + p,
                p.replace("/", "%2F"), p + "%2Fx", p + "%20x", p.replace("a", "%61"), p[:-1] + "%" + format(ord(p[-1]), "02X"),
                p + "/%2e%2e/zzz", p + ";x", p + "#f"}
    return sorted(out)
rows = []
for host, ps in bases.items():
    seen = set()
    for p in ps:
        for v in variants(p):
            if (host, v) in seen: continue
            seen.add((host, v))
            rows.append({"host": host, "path": v, "nginx": ask(NG, host, v), "weir": ask(WE, host, v)})
# Host header forms, without path variants.
for host in ["MIX.test", "mix.test:80", "mix.test:26180", "mix.test.", "x.WILD.test", "AL.test", "a_b.wild.test",
             "1.wild.test", "wild.test", "127.0.0.1", "[::1]", "b.test.:80"]:
    for v in ["/foo", "/w", "/b", "/"]:
        rows.append({"host": host, "path": v, "nginx": ask(NG, host, v), "weir": ask(WE, host, v)})
json.dump(rows, open("results.json", "w"), indent=0)
diff = [r for r in rows if r["nginx"] != r["weir"]]
print(len(rows), "requests,", len(diff), "differ")
for r in diff: print(f'{r["host"]:14} {r["path"]:28} nginx[{r["nginx"]}]  weir[{r["weir"]}]')
