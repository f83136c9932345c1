"""An HTTP server that records POSTs, for testing post triggers.

    sink = PostSink(statuses=[503, 503, 200]).start()   # later requests: 200
    ... sink.url ...
    sink.wait_requests(3)
    sink.requests[0]["headers"], sink.requests[0]["json"]
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from procs import wait_until


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        sink = self.server.sink
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        with sink.lock:
            n = len(sink.requests)
            status = sink.statuses[n] if n < len(sink.statuses) else sink.default
            sink.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                  "json": parsed, "status": status, "time": time.monotonic()})
        reply = b"" if status < 400 else ("error %d from the sink" % status).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class PostSink:
    def __init__(self, statuses=(), default=200):
        self.statuses = list(statuses)
        self.default = default
        self.requests = []
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.sink = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.server.server_address[1]

    def wait_requests(self, n, timeout=10.0):
        wait_until(lambda: len(self.requests) >= n, timeout,
                   message="expected %d POSTs, got %d" % (n, len(self.requests)))
        return self.requests

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
