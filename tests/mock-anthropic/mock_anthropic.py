#!/usr/bin/env python3
"""A scripted mock of the Anthropic Messages API, so that the real Claude Code CLI (`claude -p`)
runs end to end offline: it calls the tools the script names (which really run) and prints real
results. Python 3.11 standard library only; it listens on 127.0.0.1 only.

    python3 mock_anthropic.py [--script FILE] [--port N] [--port-file FILE]
                              [--delay S] [--chunk-delay S]
                              [--error STATUS [--error-first N] [--no-retry] [--mid-stream]]

The first line on stdout is the port (port 0, the default, picks a free one); --port-file also
writes it there. SIGTERM or SIGINT stops the mock with exit status 0. Every request is logged to
stderr. Point claude at it with ANTHROPIC_BASE_URL=http://127.0.0.1:PORT, ANTHROPIC_API_KEY=any
and CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 (without it claude also calls api.anthropic.com).

Endpoints
  POST /v1/messages[?beta=true]     the scripted answer: SSE when the body has "stream": true
                                    (message_start, ping, content_block_start/_delta/_stop,
                                    message_delta, message_stop), plain JSON otherwise
  POST /v1/messages/count_tokens    {"input_tokens": N}
  GET  /v1/models, /v1/models/{id}  a small model list / one model
  GET  /_mock/requests              JSON list of the requests served: n, method, path, model,
                                    script, turn, side, stream, status, error
  GET  /_mock/health                {"ok": true}
  anything else                     200 {}

Script format (JSON; keys that start with "_" are comments)

  {
    "scripts": [                        tried in order, the first whose regex matches wins
      {"name": "commit",                for the request log (default "scripts[i]")
       "prompt": "(?i)commit",          regex searched in the text of the FIRST user message
       "turns": [TURN, ...]}
    ],
    "turns": [TURN, ...],               the script for prompts no "scripts" entry matches
                                        (without it such a request gets a 400, never retried)
    "side_text": "OK",                  the answer to side requests
    "done_text": "Done.",               the answer of a turn with neither text nor tools,
                                        and of every turn past the end of the script
    "delay": 0, "chunk_delay": 0,       defaults for every turn
    "error": ERROR                      an error for every main request (a turn's own wins)
  }

  TURN  = {"text": "I'll write it.",                                  a text block, then
           "tools": [{"name": "Write",                                tool calls (several =
                      "input": {"file_path": "a.txt", "content": "a\\n"}}],   parallel calls)
           "delay": 2.5,                seconds before the answer (before any byte is sent)
           "chunk_delay": 0.1,          seconds between SSE events
           "usage": {"input_tokens": 10, "output_tokens": 5},    default: from the sizes
           "error": ERROR}
  ERROR = {"status": 529,               401, 429, 500, 529 (any status works)
           "type": "overloaded_error",  default: from the status
           "message": "Overloaded",     default: from the status
           "first": 1,                  fail only the first N requests for this turn (for the
                                        global error: the first N main requests); later ones
                                        get the turn's normal answer. Default: every time.
           "no_retry": true,            send `x-should-retry: false`
           "mid_stream": true}          streamed requests get HTTP 200, the first events of the
                                        answer, then an SSE `error` event; non-streamed ones
                                        get the plain HTTP error
  A bare list of turns is also a script (the "turns" of an otherwise empty object).
  Claude Code's tools: Write {file_path, content}, Read {file_path}, Bash {command,
  description}, Edit {file_path, old_string, new_string}; MCP tools: mcp__<server>__<tool>.
  A turn with tools ends with stop_reason "tool_use", any other with "end_turn".

Which turn answers a request is stateless: the number of assistant messages already in the
request's `messages`. So a retry gets the same turn again, concurrent claude processes each
follow their own conversation, and `--resume` goes on where the session stopped. Only the
"first" counters of errors are state (shared by all conversations on one script turn).
A request without `tools` is a side request (session titles and the like): it gets side_text,
never an error or a delay, and uses up no turn.
"""

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    401: "invalid x-api-key",
    429: "Number of request tokens has exceeded your per-minute rate limit",
    500: "Internal server error",
    529: "Overloaded",
}
MODELS = ["claude-opus-4-8", "claude-sonnet-5", "claude-haiku-4-5-20251001"]
CHUNK = 24  # characters per text_delta / input_json_delta

TOP_KEYS = {"scripts", "turns", "side_text", "done_text", "delay", "chunk_delay", "error"}
SCRIPT_KEYS = {"name", "prompt", "turns"}
TURN_KEYS = {"text", "tools", "delay", "chunk_delay", "usage", "error"}
TOOL_KEYS = {"name", "input"}
ERROR_KEYS = {"status", "type", "message", "first", "no_retry", "mid_stream"}


def _check_keys(obj, allowed, where):
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {obj!r}")
    unknown = sorted(k for k in obj if k not in allowed and not k.startswith("_"))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _check_error(error, where):
    _check_keys(error, ERROR_KEYS, where)
    if not isinstance(error.get("status"), int):
        raise ValueError(f"{where}: status must be an integer")


def load_script(doc):
    """Validates a script document (see the module docstring); typos fail here, not mid-test.
    Returns {"scripts": [{"name", "prompt": compiled regex, "turns"}], "side_text",
    "done_text", "defaults"}."""
    if isinstance(doc, list):
        doc = {"turns": doc}
    _check_keys(doc, TOP_KEYS, "script")
    scripts = []
    for i, s in enumerate(doc.get("scripts", [])):
        _check_keys(s, SCRIPT_KEYS, f"scripts[{i}]")
        scripts.append({"name": s.get("name", f"scripts[{i}]"),
                        "prompt": re.compile(s.get("prompt", "")), "turns": s.get("turns", [])})
    if "turns" in doc:
        scripts.append({"name": "turns", "prompt": re.compile(""), "turns": doc["turns"]})
    for s in scripts:
        for j, turn in enumerate(s["turns"]):
            where = f"{s['name']} turn {j}"
            _check_keys(turn, TURN_KEYS, where)
            for k, tool in enumerate(turn.get("tools", [])):
                _check_keys(tool, TOOL_KEYS, f"{where} tools[{k}]")
                if not isinstance(tool.get("name"), str):
                    raise ValueError(f"{where} tools[{k}]: name must be a string")
            if "error" in turn:
                _check_error(turn["error"], f"{where} error")
    if "error" in doc:
        _check_error(doc["error"], "script error")
    return {
        "scripts": scripts,
        "side_text": doc.get("side_text", "OK"),
        "done_text": doc.get("done_text", "Done."),
        "defaults": {k: doc[k] for k in ("delay", "chunk_delay", "error") if k in doc},
    }


def first_user_text(messages):
    """The text of the first user message (a string, or the text of its text blocks)."""
    for m in messages:
        if m.get("role") == "user":
            content = m.get("content", "")
            if isinstance(content, str):
                return content
            return "\n".join(b.get("text", "") for b in content
                             if isinstance(b, dict) and b.get("type") == "text")
    return ""


def error_body(error):
    status = error["status"]
    return {"type": "error", "error": {
        "type": error.get("type", ERROR_TYPES.get(status, "api_error")),
        "message": error.get("message", ERROR_MESSAGES.get(status, f"mock error {status}")),
    }}


def chunks(s):
    """s in CHUNK-sized pieces; at least one piece, so an empty text still gets a delta."""
    return [s[i:i + CHUNK] for i in range(0, max(len(s), 1), CHUNK)]


class Mock:
    """The script plus the little state the mock keeps: the request log and error counters."""

    def __init__(self, script):
        self.script = script
        self.lock = threading.Lock()
        self.log = []
        self.failures = {}  # error counter key -> how many times that error was served

    def record(self, entry):
        with self.lock:
            entry = {"n": len(self.log), **entry}
            self.log.append(entry)
        print("mock:", json.dumps(entry), file=sys.stderr, flush=True)

    def take_failure(self, key, error):
        """Whether this request gets the error; counts it against the error's "first" limit."""
        with self.lock:
            served = self.failures.get(key, 0)
            if "first" in error and served >= error["first"]:
                return False
            self.failures[key] = served + 1
            return True

    def plan(self, body):
        """What answers a main request: (script name, turn index, turn, error counter key),
        or None when no script matches its prompt."""
        messages = body.get("messages", [])
        prompt = first_user_text(messages)
        script = next((s for s in self.script["scripts"] if s["prompt"].search(prompt)), None)
        if script is None:
            return None
        index = sum(1 for m in messages if m.get("role") == "assistant")
        own = script["turns"][index] if index < len(script["turns"]) else {}
        turn = {**self.script["defaults"], **own}
        key = (script["name"], index) if "error" in own else "global"
        return script["name"], index, turn, key


def build_message(body, turn, done_text, request_bytes):
    """The assistant message a turn answers with (non-streamed form)."""
    content = []
    if turn.get("text") or not turn.get("tools"):
        content.append({"type": "text", "text": turn.get("text") or done_text})
    for tool in turn.get("tools", []):
        content.append({"type": "tool_use", "id": "toolu_mock_" + uuid.uuid4().hex[:20],
                        "name": tool["name"], "input": tool.get("input", {})})
    # Roughly 4 bytes a token; never 0, so that claude computes a cost > 0.
    usage = {"input_tokens": max(1, request_bytes // 4),
             "output_tokens": max(1, len(json.dumps(content)) // 4),
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    usage.update(turn.get("usage", {}))
    return {"id": "msg_mock_" + uuid.uuid4().hex[:20], "type": "message", "role": "assistant",
            "model": body.get("model", MODELS[0]), "content": content,
            "stop_reason": "tool_use" if turn.get("tools") else "end_turn",
            "stop_sequence": None, "usage": usage}


def stream_events(msg):
    """The SSE events (name, data) that stream msg."""
    usage = msg["usage"]
    start = {**msg, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [("message_start", {"type": "message_start", "message": start}),
              ("ping", {"type": "ping"})]
    for i, block in enumerate(msg["content"]):
        if block["type"] == "text":
            empty, pieces = {"type": "text", "text": ""}, chunks(block["text"])
            deltas = [{"type": "text_delta", "text": p} for p in pieces]
        else:
            empty = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": p}
                      for p in chunks(json.dumps(block["input"]))]
        events.append(("content_block_start",
                       {"type": "content_block_start", "index": i, "content_block": empty}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
                   for d in deltas]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    events.append(("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
        "usage": {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive like the real API; SSE goes out chunked
    server_version = "mock-anthropic"

    def log_message(self, fmt, *args):  # the request log replaces the default access log
        pass

    @property
    def mock(self):
        return self.server.mock

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST

    def dispatch(self):
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (claude cancelled or timed out) mid-answer.
            self.close_connection = True
            print(f"mock: client closed the connection during {self.path}", file=sys.stderr,
                  flush=True)

    def route(self):
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        entry = {"method": self.command, "path": self.path}
        if path == "/_mock/requests":
            with self.mock.lock:
                return self.send_json(200, list(self.mock.log))
        if path == "/_mock/health":
            return self.send_json(200, {"ok": True})
        if self.command == "POST" and path in ("/v1/messages", "/v1/messages/count_tokens"):
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except ValueError:
                self.mock.record({**entry, "status": 400, "error": "invalid JSON"})
                return self.send_json(400, error_body({"status": 400, "message": "invalid JSON"}))
            entry["model"] = body.get("model")
            if path.endswith("/count_tokens"):
                self.mock.record({**entry, "status": 200})
                return self.send_json(200, {"input_tokens": max(1, len(raw) // 4)})
            return self.messages(body, len(raw), entry)
        if self.command == "GET" and path == "/v1/models":
            self.mock.record({**entry, "status": 200})
            return self.send_json(200, {"data": [self.model(m) for m in MODELS], "has_more": False,
                                        "first_id": MODELS[0], "last_id": MODELS[-1]})
        if self.command == "GET" and path.startswith("/v1/models/"):
            self.mock.record({**entry, "status": 200})
            return self.send_json(200, self.model(path.rsplit("/", 1)[1]))
        self.mock.record({**entry, "status": 200})
        self.send_json(200, {})

    @staticmethod
    def model(model_id):
        return {"type": "model", "id": model_id, "display_name": model_id,
                "created_at": "2025-01-01T00:00:00Z"}

    def messages(self, body, request_bytes, entry):
        stream = bool(body.get("stream"))
        entry.update(stream=stream, side=not body.get("tools"), script=None, turn=None, error=None)
        if entry["side"]:
            msg = build_message(body, {"text": self.mock.script["side_text"]}, "", request_bytes)
            self.mock.record({**entry, "status": 200})
            return self.answer(msg, stream, 0)
        plan = self.mock.plan(body)
        if plan is None:
            error = {"status": 400, "no_retry": True,
                     "message": "mock: no script matches the first user prompt"}
            self.mock.record({**entry, "status": 400, "error": "no script matches"})
            return self.send_error_reply(error)
        entry["script"], entry["turn"], turn, key = plan
        time.sleep(turn.get("delay", 0))
        error = turn.get("error")
        if error and self.mock.take_failure(key, error):
            entry["error"] = error_body(error)["error"]["type"]
            if stream and error.get("mid_stream"):
                self.mock.record({**entry, "status": 200})
                msg = build_message(body, turn, self.mock.script["done_text"], request_bytes)
                # message_start, ping, the first block's start and first delta; then the error.
                events = stream_events(msg)[:4] + [("error", error_body(error))]
                return self.send_events(events, turn.get("chunk_delay", 0))
            self.mock.record({**entry, "status": error["status"]})
            return self.send_error_reply(error)
        self.mock.record({**entry, "status": 200})
        msg = build_message(body, turn, self.mock.script["done_text"], request_bytes)
        self.answer(msg, stream, turn.get("chunk_delay", 0))

    def answer(self, msg, stream, chunk_delay):
        if stream:
            self.send_events(stream_events(msg), chunk_delay)
        else:
            self.send_json(200, msg)

    def send_error_reply(self, error):
        headers = {"x-should-retry": "false"} if error.get("no_retry") else {}
        self.send_json(error["status"], error_body(error), headers)

    def send_json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", "req_mock_" + uuid.uuid4().hex[:20])
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_events(self, events, chunk_delay):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", "req_mock_" + uuid.uuid4().hex[:20])
        self.end_headers()
        for i, (name, data) in enumerate(events):
            if i and chunk_delay:
                time.sleep(chunk_delay)
            payload = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def make_server(script, port=0):
    """A ready (not yet serving) mock on 127.0.0.1:port for an already loaded script."""
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.mock = Mock(script)
    return server


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--script", help="the script (JSON); default: one text turn")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    ap.add_argument("--port-file", help="also write the port to this file")
    ap.add_argument("--delay", type=float, help="seconds before every main answer")
    ap.add_argument("--chunk-delay", type=float, help="seconds between SSE events")
    ap.add_argument("--error", type=int, metavar="STATUS", help="fail every main request")
    ap.add_argument("--error-first", type=int, metavar="N", help="... only the first N")
    ap.add_argument("--no-retry", action="store_true", help="... with x-should-retry: false")
    ap.add_argument("--mid-stream", action="store_true", help="... in the middle of the stream")
    a = ap.parse_args(argv)

    if a.script:
        with open(a.script) as f:
            doc = json.load(f)
    else:
        doc = {"turns": [{"text": "Hello from the mock."}]}
    if isinstance(doc, list):
        doc = {"turns": doc}
    if a.delay is not None:
        doc["delay"] = a.delay
    if a.chunk_delay is not None:
        doc["chunk_delay"] = a.chunk_delay
    if a.error is not None:
        doc["error"] = {"status": a.error, "no_retry": a.no_retry, "mid_stream": a.mid_stream}
        if a.error_first is not None:
            doc["error"]["first"] = a.error_first
    try:
        script = load_script(doc)
    except (ValueError, re.error) as e:
        ap.error(f"bad script: {e}")

    server = make_server(script, a.port)
    port = server.server_address[1]
    if a.port_file:
        # Written whole then renamed, so a reader never sees a partial port; before the
        # stdout line, so whoever reads that line finds the file too.
        tmp = f"{a.port_file}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, a.port_file)
    print(port, flush=True)

    # serve_forever runs here; a signal asks another thread to stop it (shutdown() called
    # from this thread would wait for itself).
    def stop(*_):
        threading.Thread(target=server.shutdown).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    server.server_close()  # handler threads are daemons: one in a long delay does not block
    print("mock: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
