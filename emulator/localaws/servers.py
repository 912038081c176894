"""The local stack's HTTP servers: threaded, and ready for a burst of connections."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server whose listen backlog takes a burst of clients (the default, 5, resets the
    rest while the accept loop catches up); port 0 binds a free port (`server_address[1]`)."""

    daemon_threads = True
    request_queue_size = 128

    def serve_in_background(self, name: str) -> None:
        """Answer requests on a daemon thread named `name` until `close`."""
        threading.Thread(target=self.serve_forever, name=name, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler that answers JSON (the stand-ins for GitHub's and other HTTP APIs)."""

    def log_message(self, *_: Any) -> None:
        return

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
