#!/usr/bin/env python3
"""Measure agenticore's own cost (stdlib only): binary size, CLI start-up, per-job overhead over
the fake claude (no repo, cached small repo), and peak RSS with 10 queued + 3 running jobs.

    cargo build --release
    python3 bench/engine_bench.py [--bin PATH] [--out bench/report-engine.md]

--bin defaults to the release binary where cargo builds it (CARGO_TARGET_DIR honoured;
AGENTICORE_BIN overrides; see tests/bin-path.sh).

Machines are shared and noisy: figures are medians of repeated runs; compare ratios, not
absolute times. Nothing here is a test: it writes a report.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = os.path.join(ROOT, "tests", "fixtures", "fake-claude")


def run_timed(argv, env, stdin=None):
    """Wall ms and peak RSS (KiB) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
    out, err = p.communicate(stdin.encode() if stdin else None)
    wall = (time.perf_counter() - t0) * 1000
    return wall, p.returncode, out, err


def rss_of_child_run(argv, env):
    """Peak RSS (KiB) of a command, by /usr/bin/time (a Python fork would count Python's own
    pages before the exec); wait4 as a fallback."""
    if os.path.exists("/usr/bin/time"):
        p = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, check=True)
        return int(p.stderr.decode().strip().splitlines()[-1])
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, ru = os.wait4(p.pid, 0)
    return ru.ru_maxrss


def fake_inner_ms(log_path):
    """start->end of the fake claude's last run, from its log."""
    with open(log_path) as f:
        lines = f.read().split("\n")
    starts = [float(l.split()[1]) for l in lines if l.startswith("start")]
    ends = [float(l.split()[1]) for l in lines if l.startswith("end")]
    return (ends[-1] - starts[-1]) * 1000


def git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@x")
    subprocess.run(["git", *args], cwd=cwd, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def small_repo(base):
    work = os.path.join(base, "seed")
    os.makedirs(work)
    git(work, "init", "-q", "-b", "main")
    for i in range(5):
        for j in range(2):
            with open(os.path.join(work, f"f{i}_{j}.txt"), "w") as f:
                f.write(f"file {i} {j}\n" * 50)
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"c{i}")
    bare = os.path.join(base, "small.git")
    git(base, "clone", "-q", "--bare", work, bare)
    return "file://" + bare


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None, help="default: the release binary (tests/bin-path.sh)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "report-engine.md"))
    ap.add_argument("-n", type=int, default=15)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin or subprocess.run(
        ["bash", os.path.join(ROOT, "tests", "bin-path.sh"), "release"], capture_output=True,
        text=True, check=True).stdout.strip())
    tmp = tempfile.mkdtemp(prefix="agenticore-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTICORE_") and k != "REDIS_URL"}
    env.update(AGENTICORE_HOME=os.path.join(tmp, "home"), AGENTICORE_REPOS_ROOT=os.path.join(tmp, "repos"),
               AGENTICORE_CLAUDE_BINARY=FAKE, AGENTICORE_OTEL_ENABLED="false", HOME=os.path.join(tmp, "h"))
    os.makedirs(env["HOME"])
    res = {}
    res["binary_bytes"] = os.path.getsize(binary)

    # CLI start-up.
    walls, rss = [], []
    for _ in range(a.n * 2):
        w, rc, _, _ = run_timed([binary, "version"], env)
        assert rc == 0
        walls.append(w)
    for _ in range(5):
        rss.append(rss_of_child_run([binary, "version"], env))
    res["version_wall_ms"] = statistics.median(walls)
    res["version_rss_kib"] = statistics.median(rss)
    # jobs listing (empty store, then after the runs below).
    walls = [run_timed([binary, "jobs"], env)[0] for _ in range(a.n)]
    res["jobs_empty_wall_ms"] = statistics.median(walls)

    # The fake claude alone.
    walls = [run_timed([FAKE, "-p"], env, stdin="x [fake:exit=0]")[0] for _ in range(a.n)]
    res["fake_standalone_ms"] = statistics.median(walls)

    def job_runs(extra, n):
        log = os.path.join(tmp, "fake.log")
        totals, overheads = [], []
        for i in range(n):
            w, rc, out, err = run_timed(
                [binary, "submit", f"bench {i} [fake:log={log}]", "--wait", "--json", *extra], env)
            assert rc == 0, err.decode()
            totals.append(w)
            overheads.append(w - fake_inner_ms(log))
        return totals, overheads

    totals, overheads = job_runs([], a.n)
    res["norepo_total_ms"] = statistics.median(totals)
    res["norepo_overhead_ms"] = statistics.median(overheads)

    url = small_repo(tmp)
    t, o = job_runs(["--repo", url], 1)
    res["smallrepo_first_clone_total_ms"] = t[0]
    totals, overheads = job_runs(["--repo", url], a.n)
    res["smallrepo_cached_total_ms"] = statistics.median(totals)
    res["smallrepo_cached_overhead_ms"] = statistics.median(overheads)

    walls = [run_timed([binary, "jobs"], env)[0] for _ in range(a.n)]
    res["jobs_wall_ms_after_runs"] = statistics.median(walls)

    # Tab completion as bash asks for it: job ids (the newest 200 of the store, with status and
    # task) and profile names. Each Tab is one run of the binary.
    def completion_ms(words):
        cenv = dict(env, AGENTICORE_COMPLETE="bash", _CLAP_COMPLETE_INDEX=str(len(words) - 1),
                    _CLAP_IFS="\n")
        walls = []
        for _ in range(a.n):
            w, rc, out, err = run_timed([binary, "--", *words], cenv)
            assert rc == 0 and out.strip(), (rc, out, err)
            walls.append(w)
        return statistics.median(walls)
    res["complete_job_ids_ms"] = completion_ms(["agenticore", "job", ""])
    res["complete_profiles_ms"] = completion_ms(["agenticore", "submit", "x", "--profile", ""])

    # 13 jobs: 3 run (the cap), 10 wait queued. Sample every agenticore process's RSS.
    _, _, out, _ = run_timed([binary, "jobs", "--json", "--status", "succeeded", "-n", "1000"], env)
    succeeded_before = json.loads(out)["count"]
    for i in range(13):
        _, rc, out, err = run_timed([binary, "submit", f"load {i} [fake:sleep=2]"], env)
        assert rc == 0, err.decode()
    worker_hwm = 0
    total_peak = 0
    t_end = time.time() + 60
    seen_worker = False
    while time.time() < t_end:
        total = 0
        worker_alive = False
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
                if not cmd or os.path.realpath(cmd[0].decode()) != binary:
                    continue
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if f"AGENTICORE_HOME={env['AGENTICORE_HOME']}".encode() not in f.read().split(b"\0") \
                            and b"__job-shim" not in cmd:
                        continue
                with open(f"/proc/{pid}/status") as f:
                    st = {l.split(":")[0]: l.split(":")[1].strip() for l in f if ":" in l}
                rss_kb = int(st.get("VmRSS", "0 kB").split()[0])
                total += rss_kb
                if len(cmd) > 1 and cmd[1] == b"__worker":
                    worker_alive = seen_worker = True
                    worker_hwm = max(worker_hwm, int(st.get("VmHWM", "0 kB").split()[0]))
            except (OSError, ValueError):
                continue
        total_peak = max(total_peak, total)
        if seen_worker and not worker_alive:
            break
        time.sleep(0.05)
    res["load_worker_peak_rss_kib"] = worker_hwm
    res["load_all_agenticore_processes_peak_rss_kib"] = total_peak
    w, rc, out, _ = run_timed([binary, "jobs", "--json", "--status", "succeeded", "-n", "1000"], env)
    res["load_jobs_succeeded"] = json.loads(out)["count"] - succeeded_before
    res["submit_wait_peak_rss_kib"] = rss_of_child_run(
        [binary, "submit", "rss [fake:sleep=0.2]", "--wait"], env)

    lines = [
        "# agenticore engine figures",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python3 bench/engine_bench.py`"
        f" (n={a.n}, medians; load average {os.getloadavg()[0]:.2f}).",
        "",
        "| what | figure |",
        "|---|---|",
        f"| release binary size | {res['binary_bytes'] / 1048576:.1f} MiB |",
        f"| `agenticore version` | {res['version_wall_ms']:.1f} ms wall, {res['version_rss_kib'] / 1024:.1f} MiB peak RSS |",
        f"| `agenticore jobs` (empty store / after {2 * a.n + 1} jobs) | {res['jobs_empty_wall_ms']:.1f} / {res['jobs_wall_ms_after_runs']:.1f} ms |",
        f"| Tab completion (one run of the binary): job ids from the store / profile names | {res['complete_job_ids_ms']:.1f} / {res['complete_profiles_ms']:.1f} ms |",
        f"| fake claude alone (python3 -S) | {res['fake_standalone_ms']:.1f} ms |",
        f"| `submit --wait`, no repo: total / overhead over the fake's own run | {res['norepo_total_ms']:.1f} / {res['norepo_overhead_ms']:.1f} ms |",
        f"| `submit --wait`, small repo, first job (clone) | {res['smallrepo_first_clone_total_ms']:.1f} ms |",
        f"| `submit --wait`, cached small repo: total / overhead | {res['smallrepo_cached_total_ms']:.1f} / {res['smallrepo_cached_overhead_ms']:.1f} ms |",
        f"| `submit --wait` process peak RSS (one job) | {res['submit_wait_peak_rss_kib'] / 1024:.1f} MiB |",
        f"| 10 queued + 3 running: worker peak RSS | {res['load_worker_peak_rss_kib'] / 1024:.1f} MiB |",
        f"| 10 queued + 3 running: all agenticore processes (worker + 3 shims) peak RSS | {res['load_all_agenticore_processes_peak_rss_kib'] / 1024:.1f} MiB |",
        f"| jobs of that load that succeeded | {res['load_jobs_succeeded']} of 13 |",
        "",
        "Overhead = wall time of the whole `agenticore submit --wait` process (start-up, SQLite,",
        "git fetch + worktree add/remove, spawn through the shim, stream parsing, record) minus the",
        "fake claude's own start-to-end time. It includes the fake's interpreter start-up.",
        "",
        "```json",
        json.dumps(res, indent=2),
        "```",
    ]
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    sys.exit(main())
