#!/usr/bin/env python3
"""agenticore's MCP server driven by the official MCP Python SDK (mcp==2.3.0), over stdio
(`agenticore serve --stdio`, spawned by the SDK) and Streamable HTTP (`agenticore serve
--port 0`, `/mcp`), with and without an API key; each in the SDK's default mode (`auto`: the
2026-07-28 protocol) and in `legacy` mode (the initialize handshake).

Run with the venv that .ci/run makes: `.e2e/venv/bin/python tests/mcp/test_sdk.py`.
The binary is where cargo builds it (CARGO_TARGET_DIR honoured; see tests/bin-path.sh);
AGENTICORE_BIN overrides it.
"""

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from contextlib import asynccontextmanager

import mcp
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = subprocess.run(["bash", os.path.join(ROOT, "tests", "bin-path.sh")], capture_output=True,
                     text=True, check=True).stdout.strip()
FAKE_CLAUDE = os.path.join(ROOT, "tests", "fixtures", "fake-claude")
TOOLS = ["cancel_job", "get_job", "get_stats", "list_jobs", "list_profiles", "run_task"]
API_KEY = "sdk-test-key"


def sandbox_env(tmp, **extra):
    """The caller's environment without its agenticore settings, plus a private home."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AGENTICORE_") and k not in ("REDIS_URL", "POSTGRES_URL")
    }
    os.makedirs(os.path.join(tmp, "home"), exist_ok=True)
    env.update(
        HOME=os.path.join(tmp, "home"),
        AGENTICORE_HOME=os.path.join(tmp, "agenticore"),
        AGENTICORE_REPOS_ROOT=os.path.join(tmp, "repos"),
        AGENTICORE_CLAUDE_BINARY=FAKE_CLAUDE,
        AGENTICORE_OTEL_ENABLED="false",
        AGENTICORE_KILL_GRACE="1",
        AGENTICORE_MAX_PARALLEL_JOBS="2",
        RUST_LOG="agenticore=info",
    )
    env.update(extra)
    return env


class HttpServer:
    """`agenticore serve --port 0` in a private home; its URL is the first stdout line."""

    def __init__(self, keys=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="agenticore-mcp-")
        extra = {"AGENTICORE_API_KEYS": ",".join(keys)} if keys else {}
        self.log = open(os.path.join(self.tmp.name, "serve.log"), "wb")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--port", "0", "--drain-timeout", "5"],
            env=sandbox_env(self.tmp.name, **extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        prefix = "agenticore listening on "
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError(f"serve did not start: {line!r}\n{self.stderr()}")
        self.base = line[len(prefix):].strip()
        self.url = self.base + "/mcp"

    def stderr(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        self.tmp.cleanup()


def payload(result):
    """A tool result's JSON: the structured content, checked against the text content."""
    text = result.content[0].text
    assert json.loads(text) == result.structured_content, (text, result.structured_content)
    return result.structured_content


class McpChecks:
    """The checks every transport runs. Subclasses define `connect(mode)`."""

    mode = "auto"

    async def _ok(self, client, tool, args):
        r = await client.call_tool(tool, args)
        self.assertFalse(r.is_error, f"{tool} {args}: {r.content}")
        data = payload(r)
        self.assertIs(data["success"], True)
        return data

    async def _error(self, client, tool, args):
        r = await client.call_tool(tool, args)
        self.assertTrue(r.is_error, f"{tool} {args}: {r.content}")
        data = payload(r)
        self.assertIs(data["success"], False)
        return data["error"]

    async def _job(self, client, job_id):
        return (await self._ok(client, "get_job", {"job_id": job_id}))["job"]

    async def _wait_status(self, client, job_id, want, within=30.0):
        deadline = time.monotonic() + within
        while True:
            job = await self._job(client, job_id)
            if job["status"] in want:
                return job
            self.assertLess(time.monotonic(), deadline, f"job still {job['status']}")
            await asyncio.sleep(0.1)

    async def test_initialize_and_list_tools(self):
        async with self.connect() as client:
            self.assertIsNotNone(client.server_info)
            self.assertEqual(client.server_info.name, "agenticore")
            tools = (await client.list_tools()).tools
            self.assertEqual(sorted(t.name for t in tools), TOOLS)
            by_name = {t.name: t for t in tools}
            for t in tools:
                self.assertTrue(t.description and len(t.description) > 40, t.name)
                self.assertEqual(t.input_schema["type"], "object", t.name)
            run = by_name["run_task"].input_schema
            self.assertEqual(run["required"], ["task"])
            self.assertLessEqual(
                {"task", "repo_url", "profile", "base_ref", "wait", "session_id", "timeout"},
                set(run["properties"]),
            )
            self.assertEqual(by_name["get_job"].input_schema["required"], ["job_id"])
            self.assertEqual(by_name["cancel_job"].input_schema["required"], ["job_id"])
            self.assertLessEqual({"limit", "status"}, set(by_name["list_jobs"].input_schema["properties"]))

    async def test_each_tool(self):
        async with self.connect() as client:
            profiles = await self._ok(client, "list_profiles", {})
            self.assertEqual(profiles["count"], 2)
            self.assertEqual([p["name"] for p in profiles["profiles"]], ["code", "review"])

            queued = (await self._ok(client, "run_task", {"task": "hello [fake:sleep=0]"}))["job"]
            self.assertEqual(queued["status"], "queued")
            self.assertEqual(queued["profile"], "code")
            done = await self._wait_status(client, queued["id"], {"succeeded", "failed"})
            self.assertEqual(done["status"], "succeeded", done)
            self.assertEqual(done["num_turns"], 2)

            listed = await self._ok(client, "list_jobs", {"limit": 5})
            self.assertGreaterEqual(listed["count"], 1)
            self.assertIn(queued["id"], [j["id"] for j in listed["jobs"]])
            ok_only = await self._ok(client, "list_jobs", {"status": "succeeded"})
            self.assertTrue(all(j["status"] == "succeeded" for j in ok_only["jobs"]))

            long = (await self._ok(client, "run_task", {"task": "long [fake:sleep=30]"}))["job"]
            await self._wait_status(client, long["id"], {"running"})
            cancelled = (await self._ok(client, "cancel_job", {"job_id": long["id"]}))["job"]
            self.assertEqual(cancelled["id"], long["id"])
            end = await self._wait_status(client, long["id"], {"cancelled", "failed", "succeeded"})
            self.assertEqual(end["status"], "cancelled", end)

    async def test_run_task_wait_with_progress(self):
        seen = []

        async def on_progress(progress, total, message):
            seen.append((progress, message))

        async with self.connect() as client:
            r = await client.call_tool(
                "run_task",
                {"task": "wait for me [fake:sleep=1]", "wait": True},
                progress_callback=on_progress,
            )
            self.assertFalse(r.is_error, r.content)
            job = payload(r)["job"]
            self.assertEqual(job["status"], "succeeded", job)
            self.assertEqual(job["mode"], "sync")
            self.assertEqual(job["cost_usd"], 0.0123)
        self.assertGreaterEqual(len(seen), 3, seen)
        steps = [p for p, _ in seen]
        self.assertEqual(steps, sorted(steps))
        self.assertTrue(any(m and "running" in m for _, m in seen), seen)

    async def test_bad_input_is_a_tool_error(self):
        async with self.connect() as client:
            cases = [
                ("run_task", {"task": " "}, "task is required"),
                ("run_task", {"task": "t", "repo_url": "not a url"}, "repo"),
                ("run_task", {"task": "t", "profile": "no-such-profile"}, "no-such-profile"),
                ("get_job", {"job_id": "not-a-uuid"}, "is not a job id"),
                ("get_job", {"job_id": "01900000-0000-7000-8000-000000000000"}, "Job not found"),
                ("cancel_job", {"job_id": "01900000-0000-7000-8000-000000000000"}, "Job not found"),
                ("list_jobs", {"status": "bogus"}, "unknown status"),
            ]
            for tool, args, want in cases:
                msg = await self._error(client, tool, args)
                self.assertIn(want, msg, (tool, args))


class StdioTest(McpChecks, unittest.IsolatedAsyncioTestCase):
    """The SDK spawns `agenticore serve --stdio` for each connection (one home per class)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="agenticore-mcp-stdio-")
        cls.env = sandbox_env(cls.tmp.name, RUST_LOG="warn")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def connect(self):
        params = mcp.StdioServerParameters(
            command=BIN, args=["serve", "--stdio", "--drain-timeout", "5"], env=self.env
        )
        return mcp.Client(params, mode=self.mode)


class StdioLegacyTest(StdioTest):
    mode = "legacy"


class StdioProcessTest(unittest.TestCase):
    """The stdio server's own contract: only protocol on stdout; exits 0 at EOF and SIGTERM."""

    def _start(self, tmp):
        proc = subprocess.Popen(
            [BIN, "serve", "--stdio"],
            env=sandbox_env(tmp),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        }
        proc.stdin.write((json.dumps(init) + "\n").encode())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else b""
        answer = json.loads(line)
        self.assertEqual(answer["result"]["serverInfo"]["name"], "agenticore")
        return proc

    def test_eof_and_sigterm_end_it(self):
        with tempfile.TemporaryDirectory(prefix="agenticore-mcp-raw-") as tmp:
            for how in ("eof", "sigterm"):
                proc = self._start(tmp)
                if how == "eof":
                    proc.stdin.close()
                else:
                    proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    self.fail(f"serve --stdio did not exit after {how}")
                rest = proc.stdout.read()
                err = proc.stderr.read().decode(errors="replace")
                for f in (proc.stdout, proc.stderr):
                    f.close()
                if proc.stdin and not proc.stdin.closed:
                    proc.stdin.close()
                self.assertEqual(code, 0, f"{how}: {err}")
                for line in rest.splitlines():
                    json.loads(line)  # nothing but JSON-RPC on stdout
                self.assertIn("serving MCP over stdio", err)


class HttpTest(McpChecks, unittest.IsolatedAsyncioTestCase):
    """`serve --port 0` without API keys; the SDK connects to its `/mcp` URL."""

    keys = None

    @classmethod
    def setUpClass(cls):
        cls.server = HttpServer(keys=cls.keys)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def connect(self):
        return mcp.Client(self.server.url, mode=self.mode)


class HttpLegacyTest(HttpTest):
    mode = "legacy"


class HttpApiKeyTest(HttpTest):
    """With AGENTICORE_API_KEYS: the SDK sends the key as a header; without it, no access."""

    keys = [API_KEY]
    header = {"X-API-Key": API_KEY}

    @asynccontextmanager
    async def connect(self, headers=None):
        async with create_mcp_http_client(headers=headers or self.header) as http:
            async with mcp.Client(
                streamable_http_client(self.server.url, http_client=http), mode=self.mode
            ) as client:
                yield client

    async def test_bearer_token_works_too(self):
        async with self.connect({"Authorization": f"Bearer {API_KEY}"}) as client:
            self.assertEqual(client.server_info.name, "agenticore")
            self.assertEqual((await self._ok(client, "list_profiles", {}))["count"], 2)

    async def test_no_key_no_access(self):
        for headers in ({"X-Other": "x"}, {"X-API-Key": "wrong"}):
            with self.assertRaises(Exception) as caught:
                async with self.connect(headers) as client:
                    await client.list_tools()
            self.assertNotIsInstance(caught.exception, AssertionError)
        # What the SDK got: the REST middleware's 401.
        req = urllib.request.Request(
            self.server.url,
            data=b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
            headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
        )
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(caught.exception.code, 401)
        self.assertEqual(json.loads(caught.exception.read()), {"error": "Invalid or missing API key"})


class HttpApiKeyLegacyTest(HttpApiKeyTest):
    mode = "legacy"


if __name__ == "__main__":
    if not os.access(BIN, os.X_OK):
        sys.exit(f"no agenticore binary at {BIN}: run `cargo build` first")
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed - len(result.skipped)} passed, {failed} failed")
    sys.exit(1 if failed or not result.wasSuccessful() else 0)
