#!/usr/bin/env python3
"""Per-job cost of a cached big repository (stdlib + git): `submit --wait` on a 5,000-file,
~50 MB repository, one agenticore binary beside another (an earlier revision) and beside the
fake claude alone, in the same run.

    python3 bench/repo_bench.py --bin target/release/agenticore --vs /tmp/agenticore-old \\
                                [--files 5000] [--file-kib 10] [--jobs 7] [--out bench/report-repo.md]

The repository is generated deterministically with `git fast-import` (the same bytes on every
machine), into a bare remote. For each binary: a fresh AGENTICORE_HOME and repos root, one
warm-up job (it clones; not counted), then --jobs jobs one after the other, each a `submit
--wait` of the fake claude with `[fake:sleep=0]`; the figure is the median wall time of a job
minus the median wall time of the fake claude run alone in a copy of the repository (what the
work physically needs). Binaries alternate job by job, so load drifts hit both alike.
Nothing here is a test: it writes a report.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = os.path.join(ROOT, "tests", "fixtures", "fake-claude")


def make_repo(dest, files, kib):
    """A bare repository with one commit of `files` files of `kib` KiB (deterministic)."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", dest], check=True)
    stream = bytearray()
    chunk = (b"agenticore bench line of text, deterministic. " * 32)[:1024]
    for i in range(files):
        body = (b"%06d " % i) + chunk * kib
        body = body[: kib * 1024]
        stream += b"blob\nmark :%d\ndata %d\n" % (i + 1, len(body)) + body + b"\n"
    stream += b"commit refs/heads/main\nmark :%d\n" % (files + 1)
    stream += b"author bench <bench@example.com> 1700000000 +0000\n"
    stream += b"committer bench <bench@example.com> 1700000000 +0000\n"
    msg = b"big repo"
    stream += b"data %d\n%s\n" % (len(msg), msg)
    for i in range(files):
        stream += b"M 100644 :%d src/d%02d/f%05d.txt\n" % (i + 1, i % 50, i)
    stream += b"\n"
    subprocess.run(["git", "--git-dir", dest, "fast-import", "--quiet"], input=bytes(stream),
                   check=True)


def env_for(home):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AGENTICORE_") and k not in ("REDIS_URL", "POSTGRES_URL")}
    env.update(AGENTICORE_HOME=os.path.join(home, "home"),
               AGENTICORE_REPOS_ROOT=os.path.join(home, "repos"),
               AGENTICORE_CLAUDE_BINARY=FAKE, AGENTICORE_OTEL_ENABLED="false",
               AGENTICORE_PORT="1", HOME=home)
    return env


def job(binary, env, url):
    t = time.perf_counter()
    r = subprocess.run([binary, "submit", "bench [fake:sleep=0]", "--repo", url, "--wait",
                        "--json"], env=env, capture_output=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit("job failed: %s %s" % (r.stdout[-400:], r.stderr[-400:]))
    return dt


def fake_alone(workdir):
    t = time.perf_counter()
    subprocess.run([FAKE, "-p", "--output-format", "stream-json", "--verbose"],
                   input=b"bench [fake:sleep=0]", cwd=workdir, capture_output=True, check=True)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--vs", required=True, help="the binary to compare with (an earlier rev)")
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--file-kib", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "report-repo.md"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="agenticore-repo-bench.")
    try:
        remote = os.path.join(tmp, "remote.git")
        t = time.perf_counter()
        make_repo(remote, args.files, args.file_kib)
        gen_s = time.perf_counter() - t
        url = "file://" + remote
        checkout = os.path.join(tmp, "checkout")
        subprocess.run(["git", "clone", "-q", remote, checkout], check=True)
        size = sum(os.path.getsize(os.path.join(d, f))
                   for d, _, fs in os.walk(checkout) if ".git" not in d for f in fs)
        bins = {"new": args.bin, "old": args.vs}
        envs = {}
        for name in bins:
            home = os.path.join(tmp, name)
            os.makedirs(home)
            envs[name] = env_for(home)
            job(bins[name], envs[name], url)  # warm-up: clones the cache
        times = {"new": [], "old": [], "fake": []}
        for _ in range(args.jobs):
            for name in ("old", "new"):
                times[name].append(job(bins[name], envs[name], url))
            times["fake"].append(fake_alone(checkout))
        med = {k: statistics.median(v) for k, v in times.items()}
        load = open("/proc/loadavg").read().split()[:3]
        lines = [
            "# agenticore: a job on a cached big repository",
            "",
            "Measured %s with `python3 bench/repo_bench.py --files %d --file-kib %d --jobs %d`."
            % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), args.files, args.file_kib,
               args.jobs),
            "",
            "| binary | job wall, median s | min / max s | overhead beyond the fake claude, median ms |",
            "|---|---|---|---|",
        ]
        for name, label in (("old", "before (`%s`)" % args.vs), ("new", "now (`%s`)" % args.bin)):
            v = times[name]
            lines.append("| %s | %.3f | %.3f / %.3f | %.0f |" % (
                label, med[name], min(v), max(v), (med[name] - med["fake"]) * 1000))
        lines.append("| the fake claude alone, in a checkout | %.3f | %.3f / %.3f | |" % (
            med["fake"], min(times["fake"]), max(times["fake"])))
        lines += [
            "",
            "Repository: %d files, %.1f MB of content, one commit (generated with git fast-import "
            "in %.1f s). Machine: %d CPUs, load average before %s; Python %s." % (
                args.files, size / 1e6, gen_s, os.cpu_count() or 0, " / ".join(load),
                sys.version.split()[0]),
            "",
            "A job's wall time is the whole `submit --wait` process: start, claim, fetch of the "
            "cached clone, its worktree, the fake claude, recording, and the worktree's cleanup "
            "(the original and older revisions create and delete every file per job; reused "
            "worktrees switch an idle checkout, writing only what differs).",
            "",
        ]
        with open(args.out, "w") as f:
            f.write("\n".join(lines))
        print("\n".join(lines))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
