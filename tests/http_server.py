"""A local HTTP server for download tests: generated files on the loopback interface, with
routes that cut the connection mid-file, ignore Range requests, answer 404/500 or run a hook
mid-transfer. Every request is logged as (path, Range header)."""

import contextlib
import http.server
import socket
import threading


class Route:
    """What one path serves: `data`; mode normal / ignore_range / 404 / 500; the first `cuts`
    responses stop after byte `cut_at` of the file and drop the connection; `hook()` runs
    halfway through a normal response."""

    def __init__(self, data, mode="normal", cut_at=None, cuts=0, hook=None):
        self.data, self.mode, self.cut_at, self.cuts, self.hook = data, mode, cut_at, cuts, hook


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        srv = self.server
        rng = self.headers.get("Range")
        srv.log.append((self.path, rng))
        route = srv.routes.get(self.path)
        if route is None or route.mode == "404":
            self.send_error(404, "Not Found")
            return
        if route.mode == "500":
            self.send_error(500, "Internal Server Error")
            return
        data = route.data
        start, status = 0, 200
        if rng and route.mode != "ignore_range":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if route.cut_at is not None and route.cuts > 0 and route.cut_at > start:
            route.cuts -= 1
            self.wfile.write(body[: route.cut_at - start])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        half = len(body) // 2
        self.wfile.write(body[:half])
        self.wfile.flush()
        if route.hook:
            route.hook()
        self.wfile.write(body[half:])


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # cut connections are on purpose
        pass


@contextlib.contextmanager
def serve():
    """A running server: .url (http://127.0.0.1:PORT), .routes {path: Route}, .log."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.routes, srv.log = {}, []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
