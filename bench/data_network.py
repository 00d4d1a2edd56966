#!/usr/bin/env python3
"""Shared data between real fedmesh processes on loopback (mutual TLS between them):

  - replication latency A->B and A->B->C (a line): a PUT on A until the value shows on B
    and on C, p50/p99 over sequential writes
  - catch-up: C is stopped, A takes 100k deltas (1000 transactions of 100 properties),
    C restarts; seconds from C's start until it holds every delta
  - convergence: 5 nodes in a ring, 10k deltas written concurrently (2000 per node, all
    on the same 100 entities); seconds until all 5 hold every delta and the same
    resolved view

  bench/data_network.py BUILD_DIR [CATCH_UP_DELTAS]
"""
import hashlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
catch_up_n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
fedmesh = os.path.join(build, "src/cli/fedmesh")
work = tempfile.mkdtemp(prefix="fedmesh-data-net-")
procs = {}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Node:
    def __init__(self, name):
        self.name = name
        self.http = free_port()
        self.fed = free_port()
        self.peers = []
        subprocess.run([fedmesh, "ca", "issue", "--ca", f"{work}/ca", "--name", name, "--out", f"{work}/certs"],
                       check=True, stdout=subprocess.DEVNULL)
        self.conn = None

    def write_config(self):
        lines = [f'name = "{self.name}"', f'workdir = "{work}/var/{self.name}"',
                 '[data]', 'share = [{collection = "*", with = ["*"]}]',
                 '[http]', f'listen = "127.0.0.1:{self.http}"',
                 '[federation]', f'listen = "127.0.0.1:{self.fed}"',
                 f'cert = "{work}/certs/{self.name}.crt"', f'key = "{work}/certs/{self.name}.key"',
                 f'trust = ["{work}/ca/ca.crt"]', 'retry_initial = "50ms"', 'retry_max = "500ms"']
        for p in self.peers:
            lines += ['[[federation.peers]]', f'name = "{p.name}"', f'url = "https://127.0.0.1:{p.fed}"',
                      'bidirectional = true']
        with open(f"{work}/{self.name}.toml", "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        self.write_config()
        log = open(f"{work}/{self.name}.log", "a")
        procs[self.name] = subprocess.Popen([fedmesh, "node", "--config", f"{work}/{self.name}.toml"],
                                            stdout=log, stderr=log)
        self.conn = None
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                self.conn = None
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not start; see {work}/{self.name}.log")

    def stop(self):
        p = procs.pop(self.name)
        p.terminate()
        p.wait(20)
        self.conn = None

    def request(self, method, path, body=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.http, timeout=30)
            try:
                self.conn.request(method, path, body=None if body is None else json.dumps(body),
                                  headers={"Content-Type": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, (json.loads(data) if data else None)
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 1:
                    raise
        return 0, None

    def count(self):
        return self.request("GET", "/api/v1/deltas/count")[1]["count"]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def wait_value(node, path, prop, value, timeout=10):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        status, body = node.request("GET", path)
        if status == 200 and body["properties"].get(prop) == value:
            return time.perf_counter()
    raise RuntimeError(f"{node.name} did not show {path} {prop}={value}")


def latency():
    a, b, c = Node("lat-a"), Node("lat-b"), Node("lat-c")
    a.peers, b.peers = [b], [c]
    for n in (c, b, a):
        n.start()
    # Wait until the line carries a write end to end.
    a.request("PUT", "/api/v1/data/lat/warm", {"v": -1})
    wait_value(c, "/api/v1/data/lat/warm", "v", -1, timeout=30)
    ab, ac = [], []
    for i in range(300):
        t0 = time.perf_counter()
        status, _ = a.request("PUT", "/api/v1/data/lat/k", {"v": i})
        assert status == 200
        tb = wait_value(b, "/api/v1/data/lat/k", "v", i)
        tc = wait_value(c, "/api/v1/data/lat/k", "v", i)
        ab.append((tb - t0) * 1000)
        ac.append((tc - t0) * 1000)
    print(f"| replication latency A->B (PUT sent on A until B shows it), 300 writes | "
          f"p50 {pct(ab, 50):.2f} ms, p99 {pct(ab, 99):.2f} ms | |")
    print(f"| replication latency A->B->C (relayed by B) | p50 {pct(ac, 50):.2f} ms, p99 {pct(ac, 99):.2f} ms | |")

    # A resolved read over HTTP of an entity with 10k deltas (100 writes of 100 properties).
    for i in range(100):
        a.request("PUT", "/api/v1/data/hot/e", {f"p{j}": i for j in range(100)})
    reads = []
    for _ in range(2000):
        t0 = time.perf_counter()
        status, _ = a.request("GET", "/api/v1/data/hot/e")
        reads.append((time.perf_counter() - t0) * 1000)
        assert status == 200
    print(f"| resolved read over HTTP of an entity with 10000 deltas (GET, keep-alive, 2000 reads) | "
          f"p50 {pct(reads, 50):.3f} ms, p99 {pct(reads, 99):.3f} ms | client and node on the same 2 cores |")

    # Catch-up: C misses catch_up_n deltas.
    c.stop()
    per_tx = 100
    start_count = a.count()
    t0 = time.perf_counter()

    def writer(k, n):
        node = Node.__new__(Node)  # a second connection to A
        node.name, node.http, node.conn = a.name, a.http, None
        for i in range(k, n, 4):
            props = {f"p{j}": i * per_tx + j for j in range(per_tx)}
            status, _ = node.request("PUT", f"/api/v1/data/bulk/e{i}", props)
            assert status == 200

    threads = [threading.Thread(target=writer, args=(k, catch_up_n // per_tx)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wrote = time.perf_counter() - t0
    total = a.count()
    print(f"| (setup) {total - start_count} deltas written on A over HTTP, 4 clients, transactions of {per_tx} | "
          f"{(total - start_count) / wrote:.0f} deltas/s | {wrote:.1f} s |")
    deadline = time.time() + 120
    while b.count() < total and time.time() < deadline:
        time.sleep(0.05)
    t0 = time.perf_counter()
    c.start()
    started = time.perf_counter() - t0
    while c.count() < total:
        if time.perf_counter() - t0 > 120:
            raise RuntimeError("catch-up did not finish in 120 s")
        time.sleep(0.01)
    took = time.perf_counter() - t0
    print(f"| catch-up of {total - start_count} missed deltas (C restarted; from its start until it holds all) | "
          f"{took:.2f} s | process start {started:.2f} s, then {(total - start_count) / (took - started):.0f} deltas/s |")
    for n in (a, b, c):
        n.stop()


def convergence():
    nodes = [Node(f"ring{i}") for i in range(5)]
    for i, n in enumerate(nodes):
        n.peers = [nodes[(i + 1) % 5]]
    for n in nodes:
        n.start()
    # All links up: a warm-up write reaches every node.
    nodes[0].request("PUT", "/api/v1/data/ring/warm", {"v": 1})
    for n in nodes:
        wait_value(n, "/api/v1/data/ring/warm", "v", 1, timeout=30)
    base = nodes[0].count()
    per_node, per_tx = 2000, 20

    def writer(n):
        for i in range(per_node // per_tx):
            props = {f"p{j}": f"{n.name}-{i}" for j in range(per_tx)}
            status, _ = n.request("PUT", f"/api/v1/data/race/e{i % 100}", props)
            assert status == 200, status

    t0 = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    target = base + per_node * 5

    def view(n):
        _, body = n.request("POST", "/api/v1/data/race/query", {"limit": 1000})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    while True:
        counts = [n.count() for n in nodes]
        if all(c >= target for c in counts) and len({view(n) for n in nodes}) == 1:
            break
        if time.perf_counter() - t0 > 120:
            raise RuntimeError(f"no convergence in 120 s: {counts}")
        time.sleep(0.02)
    took = time.perf_counter() - t0
    print(f"| 5 nodes in a ring converge after {per_node * 5} concurrent writes (2000 per node, same 100 entities) | "
          f"{took:.2f} s | from the first write until all hold every delta and show the same resolved view |")
    for n in nodes:
        n.stop()


try:
    subprocess.run([fedmesh, "ca", "init", f"{work}/ca"], check=True, stdout=subprocess.DEVNULL)
    print("| measure | result | notes |\n|---|---|---|")
    latency()
    convergence()
except Exception:
    for name in sorted(os.listdir(work)):
        if name.endswith(".log"):
            with open(os.path.join(work, name)) as f:
                lines = f.readlines()
                at = next((i for i, l in enumerate(lines) if "ERROR: AddressSanitizer" in l), None)
                tail = lines[at:at + 45] if at is not None else lines[-15:]
            print(f"--- {name}:\n" + "".join(tail), file=sys.stderr)
    raise
finally:
    for p in procs.values():
        p.kill()
    shutil.rmtree(work, ignore_errors=True)
