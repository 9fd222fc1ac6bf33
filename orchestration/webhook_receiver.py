"""A small local HTTP receiver for Slack-compatible webhooks: the demo's stand-in for a chat
channel (it writes what it receives to a JSONL file), and the real server the alert tests post
to. `failing=True` makes it answer 503, as a channel that is down would."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class WebhookReceiver:
    def __init__(self, log_path: str | Path | None = None):
        self.received: list[dict] = []
        self.failing = False
        self.log_path = Path(log_path) if log_path else None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.failing:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"channel unavailable")
                    return
                message = json.loads(body)
                receiver.received.append(message)
                if receiver.log_path:
                    with receiver.log_path.open("a") as out:
                        out.write(json.dumps(message) + "\n")
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # keep the console for the demo's own progress
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/afterlaunch"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
