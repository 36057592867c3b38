#!/usr/bin/env python3
"""Unit tests of mock_anthropic.py alone, over real HTTP on 127.0.0.1 (no claude needed).

    python3 tests/mock-anthropic/test_mock.py        (or: python3 -m unittest, from this folder)

Most tests run the mock in a thread of this process; the CLI tests start it as a subprocess.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "mock_anthropic.py")
sys.path.insert(0, HERE)
import mock_anthropic  # noqa: E402

TOOLS = [{"name": "Write", "description": "write a file", "input_schema": {"type": "object"}}]
WRITE = {"name": "Write", "input": {"file_path": "hello.txt", "content": "hello world\n"}}
BASH = {"name": "Bash", "input": {"command": "git add -A && git commit -qm hello",
                                  "description": "Commit"}}
READ = {"name": "Read", "input": {"file_path": "README.md"}}
MCP = {"name": "mcp__agenticore__run_task", "input": {"task": "hello", "wait": True}}


def conversation(prompt, assistants):
    """A request's messages: the prompt, then `assistants` assistant/tool_result rounds."""
    msgs = [{"role": "user", "content": prompt}]
    for i in range(assistants):
        msgs.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": f"t{i}", "name": "Write", "input": {}}]})
        msgs.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"t{i}", "content": "ok"}]})
    return msgs


def parse_sse(raw):
    """[(event, data)] from an SSE body."""
    events = []
    for block in raw.decode().split("\n\n"):
        if block.strip():
            lines = dict(line.split(": ", 1) for line in block.split("\n"))
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def streamed_content(events):
    """The content blocks an SSE answer builds, as a client would assemble them."""
    blocks = {}
    for name, data in events:
        if name == "content_block_start":
            blocks[data["index"]] = dict(data["content_block"], _json="")
        elif name == "content_block_delta":
            b, d = blocks[data["index"]], data["delta"]
            if d["type"] == "text_delta":
                b["text"] += d["text"]
            else:
                b["_json"] += d["partial_json"]
    out = []
    for i in sorted(blocks):
        b = blocks[i]
        if b["type"] == "tool_use":
            b["input"] = json.loads(b["_json"])
        del b["_json"]
        out.append(b)
    return out


class MockTest(unittest.TestCase):
    """Starts an in-process mock per test with `self.start(script)`."""

    def start(self, script):
        server = mock_anthropic.make_server(mock_anthropic.load_script(script))
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.port = server.server_address[1]
        return server

    def request(self, method, path, body=None, conn=None):
        """(status, headers dict with lower-case names, raw body)."""
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = None if body is None else json.dumps(body).encode()
        c.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        raw = r.read()
        if conn is None:
            c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, raw

    def ask(self, prompt="hi", assistants=0, stream=False, tools=True, path="/v1/messages?beta=true"):
        body = {"model": "claude-sonnet-5", "max_tokens": 100, "stream": stream,
                "messages": conversation(prompt, assistants)}
        if tools:
            body["tools"] = TOOLS
        return self.request("POST", path, body)

    def answer(self, **kw):
        """A successful non-streamed answer as JSON."""
        status, _, raw = self.ask(**kw)
        self.assertEqual(status, 200, raw)
        return json.loads(raw)

    def events(self, **kw):
        status, headers, raw = self.ask(stream=True, **kw)
        self.assertEqual(status, 200, raw)
        self.assertEqual(headers["content-type"], "text/event-stream")
        return parse_sse(raw)

    def served(self):
        return json.loads(self.request("GET", "/_mock/requests")[2])

    def assert_usage(self, usage):
        self.assertGreater(usage["input_tokens"], 0)
        self.assertGreater(usage["output_tokens"], 0)


class Answers(MockTest):
    def test_text_non_streamed(self):
        self.start({"turns": [{"text": "Hello there."}]})
        msg = self.answer()
        self.assertEqual(msg["type"], "message")
        self.assertEqual(msg["role"], "assistant")
        self.assertEqual(msg["model"], "claude-sonnet-5")
        self.assertEqual(msg["content"], [{"type": "text", "text": "Hello there."}])
        self.assertEqual(msg["stop_reason"], "end_turn")
        self.assert_usage(msg["usage"])

    def test_text_streamed(self):
        text = "A long answer that the mock has to cut into several text deltas. " * 3
        self.start({"turns": [{"text": text}]})
        for path in ("/v1/messages", "/v1/messages?beta=true"):
            ev = self.events(path=path)
            names = [n for n, _ in ev]
            self.assertEqual(names[0], "message_start")
            self.assertEqual(names[1], "ping")
            self.assertEqual(names[2], "content_block_start")
            self.assertEqual(names[-3:], ["content_block_stop", "message_delta", "message_stop"])
            self.assertGreater(names.count("content_block_delta"), 3)
            self.assertEqual(streamed_content(ev), [{"type": "text", "text": text}])
            start, delta = ev[0][1]["message"], ev[-2][1]
            self.assertEqual(start["model"], "claude-sonnet-5")
            self.assertIsNone(start["stop_reason"])
            self.assertGreater(start["usage"]["input_tokens"], 0)
            self.assertEqual(delta["delta"]["stop_reason"], "end_turn")
            self.assert_usage(delta["usage"])

    def test_tool_turn(self):
        self.start({"turns": [{"text": "Writing it.", "tools": [WRITE]}]})
        msg = self.answer()
        self.assertEqual(msg["stop_reason"], "tool_use")
        self.assertEqual(msg["content"][0], {"type": "text", "text": "Writing it."})
        tool = msg["content"][1]
        self.assertEqual((tool["type"], tool["name"], tool["input"]), ("tool_use", "Write", WRITE["input"]))
        self.assertTrue(tool["id"].startswith("toolu_"))
        ev = self.events()
        self.assertIn(("content_block_delta", "input_json_delta"),
                      [(n, d["delta"]["type"]) for n, d in ev if n == "content_block_delta"])
        blocks = streamed_content(ev)
        self.assertEqual([b["type"] for b in blocks], ["text", "tool_use"])
        self.assertEqual((blocks[1]["name"], blocks[1]["input"]), ("Write", WRITE["input"]))
        self.assertEqual(ev[-2][1]["delta"]["stop_reason"], "tool_use")

    def test_tool_without_text(self):
        self.start({"turns": [{"tools": [BASH]}]})
        msg = self.answer()
        self.assertEqual([b["type"] for b in msg["content"]], ["tool_use"])
        self.assertEqual(msg["content"][0]["input"], BASH["input"])

    def test_parallel_tools(self):
        self.start({"turns": [{"tools": [WRITE, READ, MCP]}]})
        for stream in (False, True):
            content = streamed_content(self.events()) if stream else self.answer()["content"]
            self.assertEqual([(b["name"], b["input"]) for b in content],
                             [(t["name"], t["input"]) for t in (WRITE, READ, MCP)])
            self.assertEqual(len({b["id"] for b in content}), 3)

    def test_usage_override(self):
        self.start({"turns": [{"text": "x", "usage": {"input_tokens": 123, "output_tokens": 45}}]})
        self.assertEqual(self.answer()["usage"]["input_tokens"], 123)
        self.assertEqual(self.events()[-2][1]["usage"]["output_tokens"], 45)

    def test_keep_alive_after_stream(self):
        self.start({"turns": [{"text": "one"}]})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(conn.close)
        body = {"model": "m", "stream": True, "tools": TOOLS, "messages": conversation("hi", 0)}
        for _ in range(2):
            status, _, raw = self.request("POST", "/v1/messages", body, conn=conn)
            self.assertEqual(status, 200)
            self.assertEqual(parse_sse(raw)[-1][0], "message_stop")
        self.assertEqual(self.request("GET", "/v1/models", conn=conn)[0], 200)


class TurnChoice(MockTest):
    SCRIPT = {"turns": [{"text": "zero", "tools": [WRITE]}, {"text": "one", "tools": [BASH]},
                        {"text": "two"}], "done_text": "nothing left"}

    def test_turn_is_the_number_of_assistant_messages(self):
        self.start(self.SCRIPT)
        # Out of order and repeated: no state decides the turn.
        for n, want in [(2, "two"), (0, "zero"), (1, "one"), (0, "zero"), (2, "two"), (5, "nothing left")]:
            self.assertEqual(self.answer(assistants=n)["content"][0]["text"], want)
        self.assertEqual([r["turn"] for r in self.served()], [2, 0, 1, 0, 2, 5])

    def test_concurrent_conversations(self):
        self.start({"turns": [{"text": "zero", "delay": 0.3}, {"text": "one"}]})
        results = {}

        def run(n):
            results[n] = self.answer(assistants=n % 2)["content"][0]["text"]
        threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, {n: ["zero", "one"][n % 2] for n in range(6)})

    def test_side_requests(self):
        self.start(dict(self.SCRIPT, side_text="A title"))
        for stream in (False, True):
            if stream:
                content = streamed_content(self.events(assistants=1, tools=False))
            else:
                msg = self.answer(assistants=1, tools=False)
                content = msg["content"]
                self.assertEqual(msg["stop_reason"], "end_turn")
                self.assert_usage(msg["usage"])
            self.assertEqual(content, [{"type": "text", "text": "A title"}])
        self.assertEqual(self.answer()["content"][0]["text"], "zero")
        log = self.served()
        self.assertEqual([(r["side"], r["turn"]) for r in log], [(True, None), (True, None), (False, 0)])

    def test_side_request_never_gets_error_or_delay(self):
        self.start({"turns": [{"text": "x"}], "error": {"status": 529}, "delay": 5})
        t0 = time.monotonic()
        self.assertEqual(self.answer(tools=False)["content"][0]["text"], "OK")
        self.assertLess(time.monotonic() - t0, 4)


class ScriptSelection(MockTest):
    SCRIPT = {
        "scripts": [
            {"name": "commit", "prompt": "(?i)commit", "turns": [{"text": "committing"}]},
            {"name": "nested", "prompt": "hello from claude", "turns": [{"text": "nested"}]},
        ],
        "turns": [{"text": "fallback"}],
    }

    def test_selected_by_first_user_prompt(self):
        self.start(self.SCRIPT)
        self.assertEqual(self.answer(prompt="Please COMMIT it")["content"][0]["text"], "committing")
        self.assertEqual(self.answer(prompt="say hello from claude")["content"][0]["text"], "nested")
        self.assertEqual(self.answer(prompt="something else")["content"][0]["text"], "fallback")
        self.assertEqual([r["script"] for r in self.served()], ["commit", "nested", "turns"])

    def test_prompt_as_blocks_and_later_messages_ignored(self):
        self.start(self.SCRIPT)
        blocks = [{"type": "text", "text": "<system-reminder>context</system-reminder>"},
                  {"type": "text", "text": "run hello from claude"}]
        body = {"model": "m", "tools": TOOLS, "messages": [
            {"role": "user", "content": blocks},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            {"role": "user", "content": "now commit"}]}
        status, _, raw = self.request("POST", "/v1/messages", body)
        self.assertEqual(status, 200)
        self.assertEqual(self.served()[-1]["script"], "nested")
        self.assertEqual(json.loads(raw)["content"][0]["text"], "Done.")  # past its one turn

    def test_no_match_without_fallback_is_a_400_never_retried(self):
        self.start({"scripts": self.SCRIPT["scripts"]})
        status, headers, raw = self.ask(prompt="unrelated")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(raw)["error"]["type"], "invalid_request_error")
        self.assertEqual(headers.get("x-should-retry"), "false")

    def test_bare_list_is_a_script(self):
        self.start([{"text": "from a list"}])
        self.assertEqual(self.answer()["content"][0]["text"], "from a list")

    def test_bad_scripts_are_rejected(self):
        for bad in [{"turns": [{"txt": "typo"}]}, {"turns": [{"tools": [{"input": {}}]}]},
                    {"turns": [{"error": {"status": "529"}}]}, {"scripts": [{"match": "x"}]},
                    {"error": {"status": 500, "times": 1}}, {"turn": []}]:
            with self.assertRaises(ValueError, msg=bad):
                mock_anthropic.load_script(bad)
        mock_anthropic.load_script({"_comment": "ok", "turns": [{"_note": "ok", "text": "x"}]})


class Errors(MockTest):
    CASES = [(401, "authentication_error"), (429, "rate_limit_error"), (500, "api_error"),
             (529, "overloaded_error")]

    def test_each_status_with_body_and_header(self):
        for status, kind in self.CASES:
            for no_retry in (False, True):
                with self.subTest(status=status, no_retry=no_retry):
                    self.start({"turns": [{"text": "never", "error": {"status": status, "no_retry": no_retry}}]})
                    for stream in (False, True):
                        got, headers, raw = self.ask(stream=stream)
                        self.assertEqual(got, status)
                        self.assertEqual(headers["content-type"], "application/json")
                        body = json.loads(raw)
                        self.assertEqual(body["type"], "error")
                        self.assertEqual(body["error"]["type"], kind)
                        self.assertTrue(body["error"]["message"])
                        self.assertEqual(headers.get("x-should-retry"), "false" if no_retry else None)
                    self.assertEqual([(r["status"], r["error"]) for r in self.served()], [(status, kind)] * 2)

    def test_custom_type_and_message(self):
        self.start({"turns": [{"error": {"status": 418, "type": "teapot_error", "message": "short and stout"}}]})
        status, _, raw = self.ask()
        self.assertEqual(status, 418)
        self.assertEqual(json.loads(raw)["error"], {"type": "teapot_error", "message": "short and stout"})

    def test_first_n_then_ok(self):
        self.start({"turns": [{"text": "made it", "error": {"status": 429, "first": 2}}, {"text": "next"}]})
        self.assertEqual(self.ask()[0], 429)
        self.assertEqual(self.ask(stream=True)[0], 429)
        self.assertEqual(self.answer()["content"][0]["text"], "made it")
        self.assertEqual(self.answer()["content"][0]["text"], "made it")
        self.assertEqual(self.answer(assistants=1)["content"][0]["text"], "next")
        self.assertEqual([r["status"] for r in self.served()], [429, 429, 200, 200, 200])

    def test_global_error_and_turn_override(self):
        self.start({"turns": [{"text": "a"}, {"text": "b", "error": {"status": 500}}],
                    "error": {"status": 529, "first": 1}})
        self.assertEqual(self.ask()[0], 529)
        self.assertEqual(self.ask(assistants=1)[0], 500)       # the turn's own error wins
        self.assertEqual(self.answer()["content"][0]["text"], "a")  # the global one is used up
        self.assertEqual(self.ask(assistants=1)[0], 500)

    def test_error_mid_stream(self):
        self.start({"turns": [{"text": "a partial answer that is long enough to be cut",
                               "error": {"status": 529, "mid_stream": True, "first": 1}}]})
        ev = self.events()
        names = [n for n, _ in ev]
        self.assertEqual(names[:4], ["message_start", "ping", "content_block_start", "content_block_delta"])
        self.assertEqual(names[-1], "error")
        self.assertNotIn("message_stop", names)
        self.assertEqual(ev[-1][1], {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        self.assertEqual(self.served()[0]["error"], "overloaded_error")
        # Used up: the retry gets the whole answer.
        self.assertEqual(self.events()[-1][0], "message_stop")

    def test_mid_stream_error_is_plain_when_not_streamed(self):
        self.start({"turns": [{"text": "x", "error": {"status": 529, "mid_stream": True}}]})
        self.assertEqual(self.ask()[0], 529)


class Delays(MockTest):
    def test_delay_before_answer(self):
        self.start({"turns": [{"text": "slow", "delay": 0.6}]})
        t0 = time.monotonic()
        self.assertEqual(self.answer()["content"][0]["text"], "slow")
        self.assertGreaterEqual(time.monotonic() - t0, 0.6)

    def test_global_delay(self):
        self.start({"turns": [{"text": "slow"}], "delay": 0.4})
        t0 = time.monotonic()
        self.answer()
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)

    def test_chunk_delay_between_events(self):
        text = "x" * 100  # 5 text deltas
        self.start({"turns": [{"text": text, "delay": 0.2, "chunk_delay": 0.1}]})
        t0 = time.monotonic()
        ev = self.events()
        elapsed = time.monotonic() - t0
        self.assertEqual(streamed_content(ev)[0]["text"], text)
        self.assertGreaterEqual(elapsed, 0.2 + 0.1 * (len(ev) - 1))

    def test_events_arrive_one_by_one(self):
        # The first event is sent before the later ones are produced (a real stream, not one
        # buffered body): read it, then measure how long the rest takes.
        self.start({"turns": [{"text": "y" * 48, "chunk_delay": 0.15}]})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(conn.close)
        body = {"model": "m", "stream": True, "tools": TOOLS, "messages": conversation("hi", 0)}
        conn.request("POST", "/v1/messages", json.dumps(body))
        r = conn.getresponse()
        self.assertEqual(r.readline().strip(), b"event: message_start")
        self.assertTrue(r.readline().startswith(b"data: "))
        self.assertEqual(r.readline().strip(), b"")
        t0 = time.monotonic()
        rest = parse_sse(r.read())
        # ping, block start, 2 deltas, block stop, message_delta, message_stop
        self.assertEqual(len(rest), 7)
        self.assertGreaterEqual(time.monotonic() - t0, 0.15 * 6)


class OtherEndpoints(MockTest):
    def test_count_tokens(self):
        self.start({"turns": []})
        for path in ("/v1/messages/count_tokens", "/v1/messages/count_tokens?beta=true"):
            status, _, raw = self.request("POST", path, {"model": "m", "messages": conversation("hi " * 50, 0)})
            self.assertEqual(status, 200)
            n = json.loads(raw)["input_tokens"]
            self.assertIsInstance(n, int)
            self.assertGreater(n, 0)

    def test_models(self):
        self.start({"turns": []})
        status, _, raw = self.request("GET", "/v1/models")
        self.assertEqual(status, 200)
        data = json.loads(raw)["data"]
        self.assertTrue(data)
        self.assertTrue(all(m["type"] == "model" and m["id"] for m in data))
        status, _, raw = self.request("GET", "/v1/models/claude-sonnet-5")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(raw)["id"], "claude-sonnet-5")

    def test_unknown_paths(self):
        self.start({"turns": []})
        for method, path in [("GET", "/nope"), ("POST", "/v1/other"), ("DELETE", "/v1/messages/x"),
                             ("GET", "/v1/messages")]:
            status, _, raw = self.request(method, path, {"x": 1} if method != "GET" else None)
            self.assertEqual((status, json.loads(raw)), (200, {}), (method, path))
        self.assertEqual([r["path"] for r in self.served()], ["/nope", "/v1/other", "/v1/messages/x", "/v1/messages"])

    def test_invalid_json_is_a_400(self):
        self.start({"turns": []})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(conn.close)
        for bad in (b"{not json", b"[1, 2]"):
            conn.request("POST", "/v1/messages", bad)
            r = conn.getresponse()
            self.assertEqual(r.status, 400)
            self.assertEqual(json.loads(r.read())["error"]["type"], "invalid_request_error")

    def test_control_endpoints(self):
        server = self.start({"turns": [{"text": "a"}]})
        self.assertEqual(server.server_address[0], "127.0.0.1")
        self.assertEqual(json.loads(self.request("GET", "/_mock/health")[2]), {"ok": True})
        self.ask(stream=True)
        log = self.served()
        self.assertEqual(len(log), 1)  # control requests are not logged
        self.assertEqual(log[0], {"n": 0, "method": "POST", "path": "/v1/messages?beta=true",
                                  "model": "claude-sonnet-5", "stream": True, "side": False,
                                  "script": "turns", "turn": 0, "error": None, "status": 200})


class CommandLine(unittest.TestCase):
    """The mock as a program: port line, --port-file, flags, signals."""

    def spawn(self, *args):
        tmp = tempfile.mkdtemp()
        port_file = os.path.join(tmp, "port")
        p = subprocess.Popen([sys.executable, MOCK, "--port-file", port_file, *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        self.addCleanup(p.stdout.close)
        self.addCleanup(p.stderr.close)
        port = int(p.stdout.readline())
        with open(port_file) as f:
            self.assertEqual(int(f.read()), port)
        return p, port

    def post(self, port, stream=False):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = {"model": "m", "stream": stream, "tools": TOOLS, "messages": conversation("hi", 0)}
        c.request("POST", "/v1/messages", json.dumps(body))
        r = c.getresponse()
        out = r.status, r.getheader("x-should-retry"), r.read()
        c.close()
        return out

    def post_until_gone(self, port):
        try:
            self.post(port)
        except OSError:  # the mock stopped mid-request
            pass

    def test_sigterm_and_sigint_exit_cleanly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            p, port = self.spawn("--delay", "30")
            # A request stuck in the delay does not hold the shutdown up.
            threading.Thread(target=self.post_until_gone, args=(port,), daemon=True).start()
            time.sleep(0.3)
            p.send_signal(sig)
            self.assertEqual(p.wait(timeout=10), 0, sig)

    def test_default_script_and_script_file(self):
        p, port = self.spawn()
        status, _, raw = self.post(port)
        self.assertEqual((status, json.loads(raw)["content"][0]["text"]), (200, "Hello from the mock."))
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump([{"text": "from the file"}], f)
        self.addCleanup(os.unlink, f.name)
        p, port = self.spawn("--script", f.name)
        self.assertEqual(json.loads(self.post(port)[2])["content"][0]["text"], "from the file")

    def test_error_flags(self):
        p, port = self.spawn("--error", "529", "--error-first", "1", "--no-retry")
        status, retry, raw = self.post(port)
        self.assertEqual((status, retry, json.loads(raw)["error"]["type"]), (529, "false", "overloaded_error"))
        self.assertEqual(self.post(port)[0], 200)
        p, port = self.spawn("--error", "500", "--mid-stream", "--chunk-delay", "0.01")
        status, retry, raw = self.post(port, stream=True)
        self.assertEqual((status, retry, parse_sse(raw)[-1][1]["error"]["type"]), (200, None, "api_error"))

    def test_help_and_bad_script(self):
        out = subprocess.run([sys.executable, MOCK, "--help"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0)
        self.assertIn("Script format", out.stdout)
        self.assertIn("mid_stream", out.stdout)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"turns": [{"txt": "typo"}]}, f)
        self.addCleanup(os.unlink, f.name)
        out = subprocess.run([sys.executable, MOCK, "--script", f.name], capture_output=True, text=True)
        self.assertEqual(out.returncode, 2)
        self.assertIn("unknown key(s) txt", out.stderr)


if __name__ == "__main__":
    unittest.main(buffer=True)  # the in-process mock logs to stderr: shown only on failure
