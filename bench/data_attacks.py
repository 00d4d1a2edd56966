#!/usr/bin/python3
"""Shared data under a hostile API user (issue 19), measured on one real node on loopback.

  bench/data_attacks.py BUILD_DIR [ENTITIES]

Starts BUILD_DIR/src/cli/fedmesh with default limits and runs, one after the other:
  filter   three concurrent queries of an `or` of 800 substring tests (1,200-byte needles
           "xx..xy") over ENTITIES (default 1000) entities of 64 KB of "x", while a point
           read and a write run; then one such query whose client leaves after 0.5 s
  expand   GET ?expand=1 of an entity holding 256 references to one of 256 x 64 KB
           properties (a 4.3 GB answer unbounded)
  bulk     Rhizome's GET /api/deltas and POST /api/query over all of it
  objects  a 1 MB body of [{},{},...] to a JSON route
and prints, for each: the answer (status, code), the time to answer, the node's CPU seconds
spent, its peak RSS, and how long a concurrent GET and PUT took.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
entities = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
fedmesh = os.path.join(build, "src/cli/fedmesh")
tick = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def request(port, method, path, body=None, timeout=300):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.monotonic()
    try:
        c.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        return r.status, data, time.monotonic() - start
    except Exception as e:  # a timeout or a reset is a result too
        return 0, str(e).encode(), time.monotonic() - start
    finally:
        c.close()


def code_of(data):
    try:
        j = json.loads(data)
        if isinstance(j, dict) and isinstance(j.get("error"), dict):
            return j["error"].get("code", "")
        if isinstance(j, dict) and "error" in j:
            return str(j["error"])[:60]
    except ValueError:
        pass
    return ""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return -1


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return -1


def main():
    work = tempfile.mkdtemp(prefix="fedmesh-attacks-")
    port = free_port()
    with open(f"{work}/a.toml", "w") as f:
        f.write(f'name = "a"\nworkdir = "{work}/a"\n[http]\nlisten = "127.0.0.1:{port}"\n')
    log = open(f"{work}/a.log", "w")
    node = subprocess.Popen([fedmesh, "node", "--config", f"{work}/a.toml"], stdout=log, stderr=log)
    try:
        for _ in range(200):
            if request(port, "GET", "/healthz", timeout=1)[0] == 200:
                break
            time.sleep(0.05)
        rows = []

        def probe_during(fn):
            """Runs fn while timing a GET and a PUT every 0.2 s; returns fn's result and the worst of each."""
            worst = {"get": 0.0, "put": 0.0}
            done = threading.Event()

            def probes():
                i = 0
                while not done.is_set():
                    worst["get"] = max(worst["get"], request(port, "GET", "/api/v1/data/doc/d1", timeout=30)[2])
                    worst["put"] = max(worst["put"], request(port, "PUT", f"/api/v1/data/probe/p{i}",
                                                             '{"v":1}', timeout=30)[2])
                    i += 1
                    time.sleep(0.2)

            t = threading.Thread(target=probes)
            t.start()
            cpu0 = cpu_seconds(node.pid)
            result = fn()
            cpu = cpu_seconds(node.pid) - cpu0
            done.set()
            t.join()
            return result, cpu, worst

        text = "x" * 65536
        for i in range(entities):
            request(port, "PUT", f"/api/v1/data/doc/d{i}", json.dumps({"text": text}))
        needle = "x" * 1199 + "y"
        bomb = json.dumps({"filter": {"or": [{"in": [needle, {"var": "text"}]} for _ in range(800)]}, "limit": 10})

        def three_bombs():
            out = [None] * 3

            def one(k):
                out[k] = request(port, "POST", "/api/v1/data/doc/query", bomb)

            ts = [threading.Thread(target=one, args=(k,)) for k in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            return out

        res, cpu, worst = probe_during(three_bombs)
        rows.append(("filter bomb x3 (%d KB body)" % (len(bomb) // 1024), res[0][0], code_of(res[0][1]),
                     max(r[2] for r in res), cpu, worst))

        def leaving_bomb():
            s = socket.create_connection(("127.0.0.1", port))
            body = bomb.encode()
            s.sendall(b"POST /api/v1/data/doc/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            time.sleep(0.5)
            s.close()
            start = time.monotonic()
            while True:  # the next query runs once the left one has stopped
                st, data, _ = request(port, "POST", "/api/v1/data/doc/query", '{"filter":{"==":[1,1]},"limit":1}')
                if st == 200 or time.monotonic() - start > 120:
                    return st, data, time.monotonic() - start

        res, cpu, worst = probe_during(leaving_bomb)
        rows.append(("filter bomb, client leaves at 0.5 s (next query)", res[0], code_of(res[1]), res[2], cpu, worst))

        chunk = "b" * 65536
        p = 0
        while p < 256:
            props = {}
            for _ in range(15):
                if p < 256:
                    props[f"p{p}"] = chunk
                    p += 1
            request(port, "PUT", "/api/v1/data/blob/big", json.dumps(props))
        request(port, "PUT", "/api/v1/data/blob/fan",
                json.dumps({f"r{i}": {"collection": "blob", "entity": "big"} for i in range(256)}))
        res, cpu, worst = probe_during(lambda: request(port, "GET", "/api/v1/data/blob/fan?expand=1"))
        rows.append(("expand 256 x 16 MB", res[0], code_of(res[1]), res[2], cpu, worst))
        res, cpu, worst = probe_during(lambda: request(port, "GET", "/api/deltas"))
        rows.append(("Rhizome GET /api/deltas (%d KB answer)" % (len(res[1]) // 1024), res[0], code_of(res[1]),
                     res[2], cpu, worst))
        res, cpu, worst = probe_during(lambda: request(port, "POST", "/api/query/doc", "{}"))
        rows.append(("Rhizome POST /api/query/doc", res[0], code_of(res[1]), res[2], cpu, worst))
        objects = "[" + ",".join(["{}"] * 330000) + "]"
        res, cpu, worst = probe_during(lambda: request(port, "POST", "/api/v1/data/doc/query", objects))
        rows.append(("1 MB body of {} objects", res[0], code_of(res[1]), res[2], cpu, worst))

        print(f"| attack | answer | time to answer | node CPU | worst GET / PUT meanwhile |")
        print("|---|---|---|---|---|")
        for name, status, code, secs, cpu, worst in rows:
            print(f"| {name} | {status} {code} | {secs:.2f} s | {cpu:.2f} s | "
                  f"{worst['get'] * 1000:.0f} / {worst['put'] * 1000:.0f} ms |")
        print(f"peak RSS {peak_rss_mib(node.pid):.0f} MiB, RSS now {rss_mib(node.pid):.0f} MiB "
              f"({entities} entities of 64 KB stored)")
        start = time.monotonic()
        node.terminate()
        code = node.wait(timeout=60)
        print(f"SIGTERM: exit {code} after {time.monotonic() - start:.2f} s")
    except Exception:
        log.flush()
        with open(f"{work}/a.log") as f:
            print("node log (last lines):\n" + "".join(f.readlines()[-120:]), file=sys.stderr)
        raise
    finally:
        if node.poll() is None:
            node.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
