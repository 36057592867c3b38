#!/usr/bin/env python3
"""OTLP ingest of `agenticore serve` into PostgreSQL (stdlib + psql): rows per second from the
first POST to the last row written, beside PostgreSQL's own bulk load of the same rows.

    cargo build --release
    python3 bench/otlp_bench.py [--bin PATH] [--pg URL] [--requests 200] [--points 500]
                                [--clients 4] [--out bench/report-otlp.md]

A daemon (`serve --port 0`, POSTGRES_URL in a fresh schema) receives --requests OTLP/HTTP JSON
metric exports of --points data points each (Claude Code's shape: `claude_code.token.usage`
sums with session.id, model and type attributes), from --clients threads with keep-alive
connections, plain and gzip. The clock runs from the first POST to the first /metrics scrape
(every 50 ms) whose `agenticore_postgres_telemetry_rows_written_total` has them all; the rows
are then counted in PostgreSQL. The reference, in the same run and schema: `psql \\copy` of the
same number of rows (the same columns, as CSV) into a copy of agenticore_otel_metrics, the
fastest way PostgreSQL takes rows from a client. Also reported: POST latency (median, p95) and
the daemon's peak RSS. Machines are shared and noisy: the load average is in the report.
Nothing here is a test: it writes a report (and exits non-zero when a check fails).
"""
import argparse
import gzip
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_bin():
    env = os.environ.get("AGENTICORE_BIN")
    if env:
        return env
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "agenticore")


def export_body(points, seq):
    now = time.time_ns()
    dps = []
    for i in range(points):
        dps.append({
            "attributes": [
                {"key": "session.id", "value": {"stringValue": "bench-session-%d" % seq}},
                {"key": "model", "value": {"stringValue": "claude-sonnet-4-6"}},
                {"key": "type", "value": {"stringValue": ("input", "output", "cacheRead")[i % 3]}},
            ],
            "startTimeUnixNano": str(now - 1_000_000_000), "timeUnixNano": str(now),
            "asDouble": float(i),
        })
    return json.dumps({"resourceMetrics": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "claude-code"}},
            {"key": "agenticore.job_id",
             "value": {"stringValue": "00000000-0000-4000-8000-%012d" % seq}}]},
        "scopeMetrics": [{"scope": {"name": "com.anthropic.claude_code"}, "metrics": [
            {"name": "claude_code.token.usage", "unit": "tokens", "sum": {
                "aggregationTemporality": 1, "isMonotonic": True, "dataPoints": dps}}]}]}]}).encode()


def psql(url, sql, stdin=None):
    r = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-tAq", "-c", sql],
                       input=stdin, capture_output=True)
    if r.returncode != 0:
        raise SystemExit("psql failed: %s" % r.stderr.decode(errors="replace"))
    return r.stdout.decode().strip()


def scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def peak_rss_mib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run(args, compress):
    schema = "agenticore_bench_otlp_%d_%s" % (os.getpid(), "gz" if compress else "plain")
    psql(args.pg, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s" % (schema, schema))
    sep = "&" if "?" in args.pg else "?"
    url = "%s%soptions=-c%%20search_path%%3D%s" % (args.pg, sep, schema)
    home = tempfile.mkdtemp(prefix="agenticore-otlp-bench.")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AGENTICORE_") and k not in ("REDIS_URL", "POSTGRES_URL")}
    env.update(AGENTICORE_HOME=home, POSTGRES_URL=url, AGENTICORE_OTEL_ENABLED="false",
               RUST_LOG="agenticore=warn")
    daemon = subprocess.Popen([args.bin, "serve", "--port", "0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = daemon.stdout.readline().decode()
    port = int(line.strip().rsplit(":", 1)[1])
    # Let the sink connect and migrate before the clock starts.
    for _ in range(100):
        if psql(args.pg, "SELECT count(*) FROM information_schema.tables WHERE table_schema = '%s' "
                         "AND table_name = 'agenticore_otel_metrics'" % schema) == "1":
            break
        time.sleep(0.1)
    bodies = [export_body(args.points, i) for i in range(args.requests)]
    if compress:
        bodies = [gzip.compress(b, 1) for b in bodies]
    sent_bytes = sum(len(b) for b in bodies)
    latencies, failures = [], []
    lock = threading.Lock()
    nxt = [0]

    def client():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(bodies):
                break
            headers = {"Content-Type": "application/json"}
            if compress:
                headers["Content-Encoding"] = "gzip"
            t = time.perf_counter()
            c.request("POST", "/v1/metrics", body=bodies[i], headers=headers)
            r = c.getresponse()
            r.read()
            dt = time.perf_counter() - t
            with lock:
                latencies.append(dt)
                if r.status != 200:
                    failures.append(r.status)
        c.close()

    want = args.requests * args.points
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posted = time.perf_counter() - t0
    written = 0
    while time.perf_counter() - t0 < 600:
        m = scrape(port)
        written = m.get("agenticore_postgres_telemetry_rows_written_total", 0)
        if written >= want or m.get("agenticore_postgres_telemetry_rows_dropped_total", 0) > 0:
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    rss = peak_rss_mib(daemon.pid)
    daemon.terminate()
    daemon.wait(timeout=30)
    rows = int(psql(url, "SELECT count(*) FROM agenticore_otel_metrics"))
    linked = int(psql(url, "SELECT count(*) FROM agenticore_otel_metrics WHERE job_id IS NOT NULL"))

    # The reference: \copy of as many rows, same columns, into a twin table.
    psql(url, "CREATE TABLE copy_ref (LIKE agenticore_otel_metrics INCLUDING ALL)")
    cols = "job_id,session_id,service_name,name,unit,kind,temporality,start_time,end_time,value,attributes,resource"
    csv = []
    attrs = json.dumps({"session.id": "bench-session", "model": "claude-sonnet-4-6", "type": "input"})
    res = json.dumps({"service.name": "claude-code", "agenticore.job_id": "00000000-0000-4000-8000-000000000001"})
    q = lambda s: '"' + s.replace('"', '""') + '"'
    for i in range(want):
        csv.append("00000000-0000-4000-8000-%012d,bench-session,claude-code,claude_code.token.usage,"
                   "tokens,sum,delta,2026-12-07 10:00:00+00,2026-12-07 10:00:01+00,%d,%s,%s"
                   % (i // args.points, i, q(attrs), q(res)))
    data = ("\n".join(csv) + "\n").encode()
    t1 = time.perf_counter()
    psql(url, "\\copy copy_ref (%s) FROM STDIN WITH (FORMAT csv)" % cols, stdin=data)
    copy_s = time.perf_counter() - t1
    psql(args.pg, "DROP SCHEMA %s CASCADE" % schema)
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
    checks = []
    if failures:
        checks.append("%d POSTs not answered 200 (%s)" % (len(failures), sorted(set(failures))))
    if rows != want:
        checks.append("%d rows in PostgreSQL, want %d" % (rows, want))
    if linked != rows:
        checks.append("%d rows without job_id" % (rows - linked))
    return {
        "mode": "JSON, gzip" if compress else "JSON", "rows": want, "bytes": sent_bytes,
        "posted_s": posted, "wall_s": wall, "rows_s": want / wall, "copy_s": copy_s,
        "copy_rows_s": want / copy_s, "p50_ms": pct(0.5), "p95_ms": pct(0.95), "rss": rss,
        "checks": checks or ["all passed"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=default_bin())
    ap.add_argument("--pg", default=os.environ.get("AGENTICORE_TEST_POSTGRES_URL",
                                                   "postgres://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--points", type=int, default=500)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "report-otlp.md"))
    args = ap.parse_args()
    load = open("/proc/loadavg").read().split()[:3]
    results = [run(args, False), run(args, True)]
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    pgv = psql(args.pg, "SHOW server_version")
    lines = [
        "# agenticore OTLP ingest into PostgreSQL",
        "",
        "Measured %s with `python3 bench/otlp_bench.py --requests %d --points %d --clients %d`."
        % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), args.requests, args.points,
           args.clients),
        "",
        "| body | rows | MiB sent | all POSTs answered s | all rows written s | rows/s | "
        "reference: psql \\copy s | \\copy rows/s | ratio | POST p50 / p95 ms | daemon peak RSS MiB | checks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append("| %s | %d | %.1f | %.2f | %.2f | %.0f | %.2f | %.0f | %.2fx | %.1f / %.1f | %.0f | %s |" % (
            r["mode"], r["rows"], r["bytes"] / 1048576, r["posted_s"], r["wall_s"], r["rows_s"],
            r["copy_s"], r["copy_rows_s"], r["rows_s"] / r["copy_rows_s"], r["p50_ms"],
            r["p95_ms"], r["rss"], "; ".join(r["checks"])))
    lines += [
        "",
        "Machine: %d CPUs; load average before the bench %s; binary `%s`; git %s; PostgreSQL %s; "
        "Python %s." % (os.cpu_count() or 0, " / ".join(load), args.bin, rev, pgv,
                        sys.version.split()[0]),
        "",
        "How: the daemon decodes each export (OTLP JSON, Claude Code's shape), flattens it into one "
        "row per data point (job id from the resource, session id from the point, attributes and "
        "resource as jsonb) and queues it; a background task writes batches of up to 5,000 rows "
        "with one `INSERT ... SELECT FROM unnest(...)` per table and transaction. The reference "
        "loads the same number of rows, already flat and as CSV, with `\\copy` into a twin table "
        "(same columns and indexes): the cost of PostgreSQL itself, without decoding.",
        "",
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    sys.exit(0 if all(r["checks"] == ["all passed"] for r in results) else 1)


if __name__ == "__main__":
    main()
