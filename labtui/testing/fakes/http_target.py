"""A local HTTP server to health-check: a ThreadingHTTPServer on 127.0.0.1 in a thread.

It can be stopped and started again on the same port (a service going down and coming back),
and its answer changed while it runs (``status``, ``body``, a redirect for ``/old``).
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from labtui.testing.fakes.serving import ServedInThread


class HttpTarget(ServedInThread):
    def __init__(self, status: int = 200, body: str = "ok", port: int = 0) -> None:
        self.status = status
        self.body = body
        self.requests = 0
        self._port = port

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    def start(self) -> Self:
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target.requests += 1
                if self.path == "/old":
                    self.send_response(302)
                    self.send_header("Location", "/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = target.body.encode()
                self.send_response(target.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

        server = Server(("127.0.0.1", self._port), Handler)
        self._port = server.server_address[1]
        return self._serve(server)
