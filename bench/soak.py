#!/usr/bin/python3
"""Soak: steady mixed load on the hello-federate network plus a registry, real processes
on loopback with mutual TLS between them, for a fixed time. Watches every node's resident
memory, open file descriptors and CPU, and the latency and errors of each kind of call,
and draws them (gnuplot) into one PNG.

Load, each at a steady rate from its own thread and keep-alive connection:
  blend     painter palette/color_blend of two random colours (two fed.calls over mTLS)
  list      painter palette/list_all_colors (a fed.call to every colour node at once)
  register  Kodo POST /register on the registry, 500 node URLs in turn (new, then updates)
  query     GET /api/v1/registry/flows on the registry, a page of 20
and, underneath, every node's registry heartbeats (every 2 s) and peer hellos (every 5 s).

  bench/soak.py BUILD_DIR [SECONDS] [PNG] [CSV]

Prints the first and last window of every series and the errors; exits 1 when an
unexpected error happened or a node died.
"""
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
duration = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
png = sys.argv[3] if len(sys.argv) > 3 else ""
csv_path = sys.argv[4] if len(sys.argv) > 4 else ""
fedmesh = os.path.join(build, "src/cli/fedmesh")
source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
packages = os.path.join(source, "examples/hello-federate/packages")
window = 5.0 if duration >= 600 else 2.0  # seconds per sample
work = tempfile.mkdtemp(prefix="fedmesh-soak-")
procs = {}
tick = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Node:
    def __init__(self, name, extra="", env=None):
        self.name, self.extra, self.env = name, extra, env or {}
        self.http, self.fed = free_port(), free_port()
        self.peers = []
        subprocess.run([fedmesh, "ca", "issue", "--ca", f"{work}/ca", "--name", name, "--out", f"{work}/certs",
                        "--organization", f"Org {name}"],
                       check=True, stdout=subprocess.DEVNULL)

    def start(self):
        lines = [f'name = "{self.name}"', f'organization = "Org {self.name}"', f'workdir = "{work}/var/{self.name}"',
                 self.extra, "[log]", 'level = "warn"',
                 "[http]", f'listen = "127.0.0.1:{self.http}"',
                 "[federation]", f'listen = "127.0.0.1:{self.fed}"',
                 f'cert = "{work}/certs/{self.name}.crt"', f'key = "{work}/certs/{self.name}.key"',
                 f'trust = ["{work}/ca/ca.crt"]', 'hello_interval = "5s"']
        for p in self.peers:
            lines += ["[[federation.peers]]", f'name = "{p.name}"', f'url = "https://127.0.0.1:{p.fed}"',
                      "bidirectional = true"]
        with open(f"{work}/{self.name}.toml", "w") as f:
            f.write("\n".join(lines) + "\n")
        env = dict(os.environ, **self.env)
        if self.env:
            env["FEDMESH_SKILLS__ENV"] = ",".join(self.env)
        log = open(f"{work}/{self.name}.log", "a")
        procs[self.name] = subprocess.Popen([fedmesh, "node", "--config", f"{work}/{self.name}.toml"],
                                            stdout=log, stderr=log, env=env)
        self.pid = procs[self.name].pid
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if request(self.http, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start; see {work}/{self.name}.log")


def request(port, method, path, body=None, conn=None, timeout=10):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = json.dumps(body) if body is not None else None
    c.request(method, path, body=data, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    payload = r.read()
    if conn is None:
        c.close()
    return r.status, payload


def upload(name, config=None):
    d = os.path.join(packages, name)
    files = {f: open(os.path.join(d, f)).read() for f in os.listdir(d) if f != "package.toml"}
    body = {"manifest": open(os.path.join(d, "package.toml")).read(), "files": files}
    if config:
        body["config"] = config
    return body


def proc_sample(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / tick
    return rss, fds, cpu


class Load:
    """One kind of call at a steady rate; latencies and errors per window."""

    def __init__(self, name, rate, port, make):
        self.name, self.rate, self.port, self.make = name, rate, port, make
        self.lock = threading.Lock()
        self.latencies, self.errors, self.total_errors, self.total = [], {}, {}, 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        period, due, i = 1.0 / self.rate, time.monotonic(), 0
        while not stop.is_set():
            method, path, body = self.make(i)
            i += 1
            started = time.monotonic()
            try:
                status, payload = request(self.port, method, path, body, conn)
                error = None if status == 200 else f"{status} {payload[:160].decode(errors='replace')}"
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                error = f"{type(e).__name__}: {e}"
            took = time.monotonic() - started
            with self.lock:
                self.total += 1
                self.latencies.append(took)
                if error:
                    key = error[:60]
                    self.errors[key] = self.errors.get(key, 0) + 1
                    self.total_errors[key] = self.total_errors.get(key, 0) + 1
            due += period
            pause = due - time.monotonic()
            if pause > 0:
                stop.wait(pause)
            else:
                due = time.monotonic()  # fell behind: do not burst to catch up

    def drain(self):
        with self.lock:
            lat, err = self.latencies, sum(self.errors.values())
            self.latencies, self.errors = [], {}
        if not lat:
            return 0, 0.0, 0.0, err
        lat.sort()
        return len(lat), lat[len(lat) // 2] * 1000, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, err


stop = threading.Event()


def main():
    subprocess.run([fedmesh, "ca", "init", f"{work}/ca"], check=True, stdout=subprocess.DEVNULL)
    reg = Node("registry", 'roles = ["node", "registry"]\n[registry]\nkodo_compat = true\nstale_after = "10s"\n'
                           'gone_after = "30s"')
    discovery = '[discovery]\nregistries = ["registry"]\nheartbeat = "2s"'
    colours = [Node(c, discovery, {"COLOR": c}) for c in ("red", "blue", "yellow")]
    painter = Node("painter", discovery)
    painter.peers = colours + [reg]
    for c in colours:
        c.peers = [reg]
    nodes = [reg] + colours + [painter]
    for n in nodes:
        n.start()
    for c in colours:
        s, b = request(c.http, "POST", "/api/v1/packages", upload("color_tools", {"default_qty": 1_000_000_000}))
        assert s == 201, b
    s, b = request(painter.http, "POST", "/api/v1/packages", upload("palette"))
    assert s == 201, b
    deadline = time.time() + 30
    while time.time() < deadline:
        peers = json.loads(request(painter.http, "GET", "/api/v1/peers")[1])["peers"]
        if sum(1 for p in peers if p["state"] == "up" and len(p.get("skills", [])) == 2) == 3:
            break
        time.sleep(0.2)
    else:
        raise RuntimeError("the painter never saw the three colour nodes")

    names = ("red", "blue", "yellow")
    loads = [
        Load("blend", 60, painter.http, lambda i: ("POST", "/api/v1/skills/palette/color_blend",
                                                   {"color1": random.choice(names), "color2": random.choice(names)})),
        Load("list", 10, painter.http, lambda i: ("POST", "/api/v1/skills/palette/list_all_colors", {})),
        Load("register", 40, reg.http, lambda i: ("POST", "/register", {
            "url": f"http://10.9.{(i % 500) // 250}.{i % 250}:8000", "organization": "kodo",
            "flows": {"/f": {"url": "/f", "name": "F", "tags": ["soak"]}}})),
        Load("query", 40, reg.http, lambda i: ("GET", f"/api/v1/registry/flows?p={i % 5}&pp=20", None)),
    ]
    for l in loads:
        l.thread.start()
    rows = []  # (t, {node: (rss, fds, cpu)}, {load: (n, p50, p99, errors)})
    started = time.monotonic()
    died = []
    while time.monotonic() - started < duration:
        stop.wait(window)
        t = time.monotonic() - started
        sample = {}
        for n in nodes:
            if procs[n.name].poll() is not None:
                died.append(n.name)
                continue
            sample[n.name] = proc_sample(n.pid)
        rows.append((t, sample, {l.name: l.drain() for l in loads}))
        if died:
            break
    stop.set()
    for l in loads:
        l.thread.join(timeout=15)

    # Report: the first and last tenth of the run (at least one window each).
    k = max(1, len(rows) // 10)
    first, last = rows[:k], rows[-k:]
    print(f"soak: {duration:.0f} s, {len(rows)} windows of {window:.0f} s")
    print("| node | RSS MiB first -> last (max) | fds first -> last (max) | CPU % |")
    print("|---|---|---|---|")
    for n in nodes:
        series = [r[1][n.name] for r in rows if n.name in r[1]]
        if not series:
            continue
        rss0 = statistics.mean(r[1][n.name][0] for r in first if n.name in r[1]) / 1024
        rss1 = statistics.mean(r[1][n.name][0] for r in last if n.name in r[1]) / 1024
        fd0 = statistics.mean(r[1][n.name][1] for r in first if n.name in r[1])
        fd1 = statistics.mean(r[1][n.name][1] for r in last if n.name in r[1])
        cpu = (series[-1][2] - series[0][2]) / max(rows[-1][0] - rows[0][0], 1e-9) * 100
        print(f"| {n.name} | {rss0:.1f} -> {rss1:.1f} ({max(s[0] for s in series) / 1024:.1f}) "
              f"| {fd0:.0f} -> {fd1:.0f} ({max(s[1] for s in series)}) | {cpu:.1f} |")
    print("| load | calls | rate/s | p50 ms first -> last | p99 ms first -> last | errors |")
    print("|---|---|---|---|---|---|")
    unexpected = 0
    for l in loads:
        def mean_of(rs, i):
            vals = [r[2][l.name][i] for r in rs if r[2][l.name][0] > 0]
            return statistics.mean(vals) if vals else 0.0
        errors = sum(l.total_errors.values())
        unexpected += errors
        print(f"| {l.name} | {l.total} | {l.total / max(rows[-1][0], 1e-9):.0f} | {mean_of(first, 1):.1f} -> "
              f"{mean_of(last, 1):.1f} | {mean_of(first, 2):.1f} -> {mean_of(last, 2):.1f} | {errors} |")
        for e, c in sorted(l.total_errors.items(), key=lambda x: -x[1])[:3]:
            print(f"    {c} x {e}")

    if csv_path:
        with open(csv_path, "w") as f:
            f.write("t," + ",".join(f"{n.name}_rss_kib,{n.name}_fds,{n.name}_cpu_s" for n in nodes) + "," +
                    ",".join(f"{l.name}_calls,{l.name}_p50_ms,{l.name}_p99_ms,{l.name}_errors" for l in loads) + "\n")
            for t, s, ls in rows:
                f.write(f"{t:.1f}," + ",".join(",".join(str(x) for x in s.get(n.name, ("", "", "")))
                                               for n in nodes) + "," +
                        ",".join(",".join(f"{x:.3f}" if isinstance(x, float) else str(x) for x in ls[l.name])
                                 for l in loads) + "\n")
    if png:
        # gnuplot (Debian's gnuplot-nox): python3-matplotlib would pull Boost 1.74 beside 1.81.
        data = os.path.join(work, "plot.dat")
        with open(data, "w") as f:
            for t, s, ls in rows:
                cols = [f"{t / 60:.3f}"]
                for n in nodes:
                    rss, fds, _ = s.get(n.name, (0, 0, 0))
                    cols += [f"{(rss or 0) / 1024:.1f}", str(fds or 0)]
                for l in loads:
                    cols += [f"{max(ls[l.name][1], 1e-3):.3f}", f"{max(ls[l.name][2], 1e-3):.3f}"]
                f.write(" ".join(cols) + "\n")
        plots = []
        for panel, (ylabel, extra) in enumerate([("RSS (MiB)", "set yrange [0:*]"),
                                                 ("open file descriptors", "set yrange [0:*]"),
                                                 ("latency (ms)", "set logscale y")]):
            lines = []
            if panel < 2:
                for i, n in enumerate(nodes):
                    lines.append(f"'{data}' using 1:{2 + 2 * i + panel} with lines title '{n.name}'")
            else:
                base = 2 + 2 * len(nodes)
                for i, l in enumerate(loads):
                    lines.append(f"'{data}' using 1:{base + 2 * i + 1} with lines title '{l.name} p99'")
                    lines.append(f"'{data}' using 1:{base + 2 * i} with lines dt 3 title '{l.name} p50'")
            plots.append(f"unset logscale y\n{extra}\nset ylabel '{ylabel}'\nplot " + ", ".join(lines))
        script = (f"set terminal pngcairo size 800,880\nset output '{png}'\nset multiplot layout 3,1 title "
                  f"'fedmesh soak: hello-federate + registry, {duration / 60:.0f} min of mixed load'\n"
                  "set grid\nset key top right font ',8'\nset xlabel 'minutes'\n" + "\n".join(plots) +
                  "\nunset multiplot\n")
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        print(f"plot: {png}")

    for p in procs.values():
        p.terminate()
    for p in procs.values():
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
    if died or unexpected:
        print(f"soak: FAILED: died {died}, {unexpected} errors; logs in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        stop.set()
        for p in procs.values():
            if p.poll() is None:
                p.kill()
