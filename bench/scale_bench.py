#!/usr/bin/env python3
"""Scale-out of `agenticore serve` on one Redis queue (stdlib only): 1 node vs 3 nodes.

    cargo build --release
    python3 bench/scale_bench.py [--bin PATH] [--out bench/report-scale.md]
                                 [--jobs-a 1000] [--jobs-b 300] [--sleep-b 1] [--cap 2]

A. many short jobs (fake claude, [fake:sleep=0], no repo): throughput of 1 node vs 3 nodes.
B. jobs of --sleep-b seconds each, cap --cap per node: wall time of 1 node vs 3 nodes
   (the goal: >= 2.7x on 3 nodes).

Each node is `agenticore serve --port 0` with its own AGENTICORE_HOME (as separate pods
would be), all on REDIS_URL (default redis://127.0.0.1:6379; --redis) under a key prefix of
their own per run, deleted (SCAN + DEL) at the end. Every job is submitted first, as fast as a
few client threads (keep-alive connections, round-robin over the nodes) can; the wall time runs
from the first submit to the first poll of `/health` (every 100 ms) that sees nothing queued or
running. Then the bench checks: every job succeeded (listed by another node than the one it
was submitted to), each job id started exactly once (the fake claude logs its job id to a
shared file, `[fake:log=PATH]`), and no node ran more than the cap at once (from the same log;
the runner of a job is the node whose home holds the job's log).

--bin defaults to the release binary where cargo builds it (CARGO_TARGET_DIR honoured;
AGENTICORE_BIN overrides; see tests/bin-path.sh). Machines are shared and noisy: the load
average and the CPU busy share of each run are in the report. Nothing here is a test: it writes
a report (and exits non-zero when a check fails).
"""
import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = os.path.join(ROOT, "tests", "fixtures", "fake-claude")
POLL = 0.1


# ---------------------------------------------------------------------------------------------
# Redis: a tiny RESP client, enough for PING, INFO, SCAN and DEL.

class Resp:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=5)
        self.f = self.sock.makefile("rb")
        if u.password:
            self.call(*(["AUTH", urllib.parse.unquote(u.username), urllib.parse.unquote(u.password)]
                        if u.username else ["AUTH", urllib.parse.unquote(u.password)]))
        if u.path.strip("/"):
            self.call("SELECT", u.path.strip("/"))

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"redis: unexpected reply {line!r}")

    def close(self):
        self.f.close()
        self.sock.close()


def redis_delete_prefix(url, prefix):
    """SCAN + DEL of `prefix:*`; the number of keys deleted."""
    r = Resp(url)
    n, cursor = 0, b"0"
    try:
        while True:
            cursor, keys = r.call("SCAN", cursor, "MATCH", prefix + ":*", "COUNT", 1000)
            if keys:
                n += r.call("DEL", *keys)
            if cursor in (b"0", "0"):
                return n
    finally:
        r.close()


def redis_count_prefix(url, prefix):
    r = Resp(url)
    n, cursor = 0, b"0"
    try:
        while True:
            cursor, keys = r.call("SCAN", cursor, "MATCH", prefix + ":*", "COUNT", 1000)
            n += len(keys)
            if cursor in (b"0", "0"):
                return n
    finally:
        r.close()


# ---------------------------------------------------------------------------------------------
# HTTP: one keep-alive connection per thread.

class Http:
    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
            except (http.client.HTTPException, ConnectionError, OSError):
                # A connection the server closed between requests: reconnect once. (A POST
                # retried this way could queue a job twice; the checks below would see it.)
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise

    def close(self):
        if self.conn is not None:
            self.conn.close()


# ---------------------------------------------------------------------------------------------
# Nodes.

def base_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AGENTICORE_") and k not in ("REDIS_URL", "REDIS_KEY_PREFIX",
                                                             "POSTGRES_URL", "RUST_LOG")}
    return env


class Node:
    def __init__(self, binary, tmp, i, redis_url, prefix, cap):
        self.i = i
        self.dir = os.path.join(tmp, f"node-{i}")
        self.home = os.path.join(self.dir, "agenticore")
        os.makedirs(os.path.join(self.dir, "home"))
        os.makedirs(self.home)
        env = base_env()
        env.update(HOME=os.path.join(self.dir, "home"), AGENTICORE_HOME=self.home,
                   AGENTICORE_REPOS_ROOT=os.path.join(self.dir, "repos"),
                   AGENTICORE_CLAUDE_BINARY=FAKE, AGENTICORE_OTEL_ENABLED="false",
                   AGENTICORE_KILL_GRACE="1", REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix,
                   AGENTICORE_REDIS_REQUIRED="true", AGENTICORE_POD_NAME=f"bench-node-{i}",
                   AGENTICORE_MAX_PARALLEL_JOBS=str(cap))
        self.env = env
        self.stdout_path = os.path.join(self.dir, "serve.out")
        self.stderr_path = os.path.join(self.dir, "serve.err")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([binary, "serve", "--port", "0"], env=env, stdout=out,
                                         stderr=err, stdin=subprocess.DEVNULL)
        self.url = None

    def wait_url(self, within=20):
        """The URL of the first line `serve` prints ("agenticore listening on http://...")."""
        t_end = time.time() + within
        while time.time() < t_end:
            with open(self.stdout_path) as f:
                line = f.readline()
            if line.endswith("\n"):
                self.url = line.strip().rsplit(" ", 1)[-1]
                assert self.url.startswith("http://127.0.0.1:"), line
                return self.url
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"node {self.i} did not start (exit {self.proc.poll()}): "
                           + open(self.stderr_path, errors="replace").read()[-2000:])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def job_logs(self):
        d = os.path.join(self.home, "logs")
        if not os.path.isdir(d):
            return set()
        return {n[:-len(".jsonl")] for n in os.listdir(d) if n.endswith(".jsonl")}


def strays(tmp, ids):
    """Live processes left by the run: environment with one of our homes or job ids."""
    home_needle = ("AGENTICORE_HOME=" + tmp).encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except (OSError, IndexError):
            continue
        for kv in env:
            if kv.startswith(home_needle) or (kv.startswith(b"AGENTICORE_JOB_ID=")
                                              and kv[18:].decode(errors="replace") in ids):
                found.append(int(pid))
                break
    return found


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]), idle


# ---------------------------------------------------------------------------------------------
# One run: N jobs on a cluster of `nodes` nodes.

def run_cluster(binary, redis_url, label, nodes_n, cap, jobs, sleep_s, clients, timeout):
    tmp = tempfile.mkdtemp(prefix=f"agenticore-scale-{label}-")
    prefix = f"bench-scale-{os.getpid()}-{label}-{uuid.uuid4().hex[:8]}"
    log = os.path.join(tmp, "fake.log")
    nodes, ids, res = [], [], {"label": label, "nodes": nodes_n, "cap": cap, "jobs": jobs,
                                "sleep_s": sleep_s, "prefix": prefix}
    errors = []
    try:
        for i in range(nodes_n):
            nodes.append(Node(binary, tmp, i, redis_url, prefix, cap))
        for n in nodes:
            n.wait_url()
        # Ready: every node answers /health "ok" with the cap we set.
        for n in nodes:
            h = Http(n.url)
            t_end = time.time() + 20
            while True:
                st, body = h.request("GET", "/health")
                if st == 200 and body.get("status") == "ok":
                    break
                if time.time() > t_end:
                    raise RuntimeError(f"node {n.i} not healthy: {st} {body}")
                time.sleep(0.1)
            h.close()
            assert body["max_parallel_jobs"] == cap, body
            res.setdefault("node_names", []).append(body.get("node"))

        # Submit: job j goes to node j % nodes_n; `clients` threads, each bound to one node.
        ids = [None] * jobs
        per_node = [[j for j in range(jobs) if j % nodes_n == k] for k in range(nodes_n)]
        threads_per_node = max(1, clients // nodes_n)
        submit_end = [0.0]
        lock = threading.Lock()
        start = threading.Barrier(nodes_n * threads_per_node + 1)

        def client(node, share):
            h = Http(node.url)
            try:
                start.wait()
                for j in share:
                    task = f"scale {label} {j} [fake:sleep={sleep_s:g};log={log}]"
                    st, body = h.request("POST", "/jobs", {"task": task})
                    if st != 200 or not body or not body.get("success"):
                        raise RuntimeError(f"POST /jobs to node {node.i}: {st} {body}")
                    ids[j] = body["job"]["id"]
                with lock:
                    submit_end[0] = max(submit_end[0], time.perf_counter())
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(f"client of node {node.i}: {e}")
            finally:
                h.close()

        threads = []
        for k, node in enumerate(nodes):
            share = per_node[k]
            for t in range(threads_per_node):
                th = threading.Thread(target=client, args=(node, share[t::threads_per_node]),
                                      daemon=True)
                th.start()
                threads.append(th)
        res["load_before"] = os.getloadavg()
        cpu0 = cpu_times()
        start.wait()
        t0 = time.perf_counter()

        # Poll one node's /health (cluster-wide counts) until everything is terminal.
        h = Http(nodes[0].url)
        polls, t_done = 0, None
        peak_running = 0
        while True:
            time.sleep(POLL)
            submitted = all(not th.is_alive() for th in threads)
            st, body = h.request("GET", "/health")
            polls += 1
            if st != 200:
                raise RuntimeError(f"/health of node 0: {st} {body}")
            peak_running = max(peak_running, body["running"])
            if submitted and body["queued"] == 0 and body["running"] == 0:
                t_done = time.perf_counter()
                break
            if errors:
                raise RuntimeError("; ".join(errors))
            dead = [n.i for n in nodes if not n.alive()]
            if dead:
                raise RuntimeError(f"node(s) {dead} exited during the run")
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"not done after {timeout} s: {body}")
        cpu1 = cpu_times()
        h.close()
        if errors:
            raise RuntimeError("; ".join(errors))
        res["wall_s"] = t_done - t0
        res["submit_s"] = submit_end[0] - t0
        res["jobs_per_s"] = jobs / res["wall_s"]
        res["polls"] = polls
        res["peak_running_cluster"] = peak_running
        res["load_after"] = os.getloadavg()
        dt, di = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        res["cpu_busy_pct"] = 100.0 * (dt - di) / dt if dt else 0.0
        if sleep_s > 0:
            res["ideal_s"] = jobs * sleep_s / (nodes_n * cap)

        # Checks. 1: every job succeeded, as listed by the last node (not the one that got
        # job 0), page after page.
        want = set(ids)
        h = Http(nodes[-1].url)
        succeeded, other, cursor = set(), {}, None
        while True:
            path = "/jobs?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            st, body = h.request("GET", path)
            assert st == 200, (st, body)
            for j in body["jobs"]:
                if j["status"] == "succeeded":
                    succeeded.add(j["id"])
                else:
                    other[j["id"]] = j["status"]
            cursor = body.get("cursor")
            if not cursor:
                break
        h.close()
        res["succeeded"] = len(succeeded & want)
        res["not_succeeded"] = len(want - succeeded)
        res["unknown_jobs_listed"] = len((succeeded | set(other)) - want)
        if want - succeeded:
            errors.append(f"{len(want - succeeded)} job(s) did not succeed: "
                          f"{dict(list(other.items())[:5])}")

        # 2: each job id started exactly once (and ended), on one node.
        runner = {}
        for n in nodes:
            for jid in n.job_logs():
                if jid in runner:
                    errors.append(f"job {jid} has a log on nodes {runner[jid]} and {n.i}")
                runner[jid] = n.i
        starts, ends, events = {}, {}, {k: [] for k in range(nodes_n)}
        with open(log) as f:
            for line in f:
                what, at, _pid, jid = line.split()
                d = starts if what == "start" else ends
                d[jid] = d.get(jid, 0) + 1
                node = runner.get(jid)
                if node is None:
                    errors.append(f"no node holds the log of job {jid}")
                    continue
                events[node].append((float(at), 1 if what == "start" else -1))
        twice = {j: c for j, c in starts.items() if c != 1}
        res["jobs_started"] = len(starts)
        res["jobs_started_not_once"] = len(twice) + len(want - set(starts))
        res["starts_of_unknown_jobs"] = len(set(starts) - want)
        if twice or want - set(starts) or set(starts) - want:
            errors.append(f"started not exactly once: {dict(list(twice.items())[:5])}, never: "
                          f"{list(want - set(starts))[:5]}, unknown: {list(set(starts) - want)[:5]}")
        if set(ends) != want or any(c != 1 for c in ends.values()):
            errors.append("not every job logged exactly one end")
        # 3: at most `cap` at once per node (the fake's own run: a lower bound of the slot).
        res["jobs_per_node"] = [sum(1 for v in runner.values() if v == k) for k in range(nodes_n)]
        res["max_concurrent_per_node"] = []
        for k in range(nodes_n):
            ev = sorted(events[k], key=lambda e: (e[0], e[1]))
            now = top = 0
            for _, d in ev:
                now += d
                top = max(top, now)
            res["max_concurrent_per_node"].append(top)
            if top > cap:
                errors.append(f"node {k} ran {top} jobs at once (cap {cap})")
        dead = [n.i for n in nodes if not n.alive()]
        if dead:
            errors.append(f"node(s) {dead} exited during the run")
    finally:
        codes = [n.stop() for n in nodes]
        res["exit_codes"] = codes
        time.sleep(0.2)
        left = strays(tmp, set(i for i in ids if i))
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        res["stray_processes_killed"] = len(left)
        if left:
            errors.append(f"{len(left)} stray process(es) after the nodes stopped: {left}")
        try:
            res["redis_keys_deleted"] = redis_delete_prefix(redis_url, prefix)
            res["redis_keys_left"] = redis_count_prefix(redis_url, prefix)
        except Exception as e:  # noqa: BLE001
            errors.append(f"redis cleanup of {prefix}: {e}")
        if errors:
            for n in nodes:
                tail = open(n.stderr_path, errors="replace").read()[-1500:]
                print(f"--- node {n.i} stderr (tail) ---\n{tail}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", tmp])
    res["errors"] = errors
    return res


# ---------------------------------------------------------------------------------------------

def git_rev():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return rev + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def redis_version(url):
    try:
        r = Resp(url)
        info = r.call("INFO", "server").decode()
        r.close()
        for line in info.splitlines():
            if line.startswith("redis_version:"):
                return line.split(":", 1)[1].strip()
    except Exception:  # noqa: BLE001
        pass
    return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None, help="default: the release binary (tests/bin-path.sh)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "report-scale.md"))
    ap.add_argument("--redis", default="redis://127.0.0.1:6379")
    ap.add_argument("--jobs-a", type=int, default=1000)
    ap.add_argument("--jobs-b", type=int, default=300)
    ap.add_argument("--sleep-b", type=float, default=1.0)
    ap.add_argument("--cap", type=int, default=2, help="AGENTICORE_MAX_PARALLEL_JOBS per node")
    ap.add_argument("--clients", type=int, default=6, help="submitting threads in all")
    ap.add_argument("--only", choices=["A", "B"], default=None)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin or subprocess.run(
        ["bash", os.path.join(ROOT, "tests", "bin-path.sh"), "release"], capture_output=True,
        text=True, check=True).stdout.strip())
    if not os.access(binary, os.X_OK):
        sys.exit(f"no agenticore binary at {binary} (cargo build --release, or --bin)")
    try:
        r = Resp(a.redis)
        assert r.call("PING") == "PONG"
        r.close()
    except Exception as e:  # noqa: BLE001
        sys.exit(f"no Redis at {a.redis}: {e}")

    profile = "release" if f"{os.sep}release{os.sep}" in binary else \
        "debug" if f"{os.sep}debug{os.sep}" in binary else "?"
    machine = {"nproc": os.cpu_count(), "load_before": os.getloadavg(), "binary": binary,
               "profile": profile, "git": git_rev(), "redis": redis_version(a.redis),
               "python": sys.version.split()[0]}
    scenarios = []
    if a.only in (None, "A"):
        scenarios.append(("A", a.jobs_a, 0.0))
    if a.only in (None, "B"):
        scenarios.append(("B", a.jobs_b, a.sleep_b))
    runs = []
    failed = False
    for name, jobs, sleep_s in scenarios:
        for nodes_n in (1, 3):
            # Generous: 20x the ideal time of 1 node, at least 2 minutes.
            timeout = max(120.0, 20 * jobs * max(sleep_s, 0.05) / a.cap)
            print(f"scenario {name}: {jobs} jobs, {nodes_n} node(s), cap {a.cap} ...",
                  file=sys.stderr, flush=True)
            r = run_cluster(binary, a.redis, f"{name.lower()}{nodes_n}", nodes_n, a.cap, jobs,
                            sleep_s, a.clients, timeout)
            r["scenario"] = name
            runs.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
            if r["errors"]:
                failed = True
            time.sleep(2)  # let the machine settle

    def ratio(name):
        one = next((r for r in runs if r["scenario"] == name and r["nodes"] == 1), None)
        three = next((r for r in runs if r["scenario"] == name and r["nodes"] == 3), None)
        if one and three and "wall_s" in one and "wall_s" in three:
            return three["jobs_per_s"] / one["jobs_per_s"]
        return None

    def f(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    desc = {"A": f"short jobs (`[fake:sleep=0]`)", "B": f"{a.sleep_b:g} s jobs (`[fake:sleep={a.sleep_b:g}]`)"}
    lines = [
        "# agenticore scale-out figures (Redis queue, 1 node vs 3 nodes)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
        f"`python3 bench/scale_bench.py"
        + (f" --jobs-a {a.jobs_a}" if a.jobs_a != 1000 else "")
        + (f" --jobs-b {a.jobs_b}" if a.jobs_b != 300 else "")
        + (f" --sleep-b {a.sleep_b:g}" if a.sleep_b != 1.0 else "")
        + (f" --cap {a.cap}" if a.cap != 2 else "")
        + (f" --only {a.only}" if a.only else "") + "`.",
        "",
        "| scenario | nodes | cap per node | jobs | wall s | jobs/s | ratio 3-vs-1 (jobs/s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        rt = ratio(r["scenario"]) if r["nodes"] == 3 else None
        lines.append(
            f"| {r['scenario']}: {desc[r['scenario']]} | {r['nodes']} | {r['cap']} | {r['jobs']} | "
            f"{f(r.get('wall_s'), '.1f')} | {f(r.get('jobs_per_s'), '.1f')} | "
            f"{f(rt, '.2f') + 'x' if rt else ('' if r['nodes'] == 1 else 'n/a')} |")
    lines += [
        "",
        "Details of each run:",
        "",
        "| run | submit s (all POSTs answered) | ideal wall s (jobs x sleep / (nodes x cap)) | "
        "jobs run per node | max at once per node | CPU busy % (whole machine, during the run) | load avg before (1/5/15 min) | checks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        checks = "all passed" if not r["errors"] else "FAILED: " + "; ".join(r["errors"])[:300]
        lines.append(
            f"| {r['scenario']}, {r['nodes']} node(s) | {f(r.get('submit_s'), '.1f')} | "
            f"{f(r.get('ideal_s'), '.1f') if r.get('ideal_s') else '-'} | "
            f"{' / '.join(map(str, r.get('jobs_per_node', []))) or 'n/a'} | "
            f"{' / '.join(map(str, r.get('max_concurrent_per_node', []))) or 'n/a'} | "
            f"{f(r.get('cpu_busy_pct'), '.0f')} | "
            f"{' / '.join(f'{x:.2f}' for x in r['load_before']) if r.get('load_before') else 'n/a'} | "
            f"{checks} |")
    la = machine["load_before"]
    lines += [
        "",
        f"Machine: {machine['nproc']} CPUs (nproc); load average before the bench "
        f"{la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f}; binary `{machine['binary']}` ({machine['profile']}"
        f" build); git {machine['git']}; Redis {machine['redis']}; Python {machine['python']}.",
        "",
        "How: each node is `agenticore serve --port 0` with its own AGENTICORE_HOME, "
        f"AGENTICORE_MAX_PARALLEL_JOBS={a.cap}, the fake claude (`tests/fixtures/fake-claude`, a "
        "`python3 -S` script), no repo, and one fresh REDIS_KEY_PREFIX per run. "
        f"{a.clients} client threads (keep-alive HTTP, the jobs dealt round-robin over the nodes) "
        "submit every job with `POST /jobs` (async); the wall time runs from the first POST to the "
        "first `/health` poll (every 100 ms, cluster-wide counts) with nothing queued or running. "
        "Checks: every job succeeded (listed by the last node), each job id started exactly once "
        "(the fake's `[fake:log=...]` file), at most the cap at once per node (from the same "
        "file, the fake's own start-end span, so a lower bound of a slot's use), no process left "
        "after the nodes stop, and the prefix's Redis keys are deleted.",
        "",
        "## What limits the ratio here",
        "",
        "- The nodes, Redis, the fake claudes and the bench share one machine of "
        f"{machine['nproc']} CPUs. Scenario A is CPU-bound: every job costs a shim process, a "
        "Python start of the fake claude, the stream parsing and a few Redis round trips, and "
        "adding nodes adds no CPU, so 3 nodes cannot beat 1 by much (a ratio near or below 1 is "
        "the expected answer on this machine; it says nothing of 3 pods on 3 machines). The CPU "
        "busy column (the whole machine's, from /proc/stat, other users' work included) shows "
        "how saturated each run was.",
        "- Scenario B is sleep-bound (the fake claude sleeps; the CPU is mostly idle), so it shows "
        "the scale-out itself: the ideal is 3x; what is lost is each job's own overhead "
        "(spawn, start-up of the fake, recording) that holds the slot beyond the sleep, and the "
        "time a freed slot waits before the scheduler claims the next job (it is woken when a "
        "job ends, else ticks every 250 ms).",
        "- Scale-out at cap 2 per node: A is measured at the same cap as B "
        f"({a.cap}), so 1 node runs at most {a.cap} jobs at once and 3 nodes {3 * a.cap}.",
        "",
        "```json",
        json.dumps({"machine": machine, "runs": runs,
                    "ratio_A": ratio("A"), "ratio_B": ratio("B")}, indent=2),
        "```",
    ]
    with open(a.out, "w") as fo:
        fo.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
