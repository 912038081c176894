"""The local stack's HTTP servers: threaded, and ready for a burst of connections."""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server whose listen backlog takes a burst of clients (the default, 5, resets the
    rest while the accept loop catches up); port 0 binds a free port (`server_address[1]`)."""

    daemon_threads = True
    request_queue_size = 128
