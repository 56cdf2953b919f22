"""The buyers' HTTP/1.1 client against a real socket server that answers as scripted:
keep-alive, Content-Length and chunked bodies, a body that runs to the close, a
stale keep-alive connection (sent again once), a connection lost mid-answer (an
error, not sent again), an answer overdue (an error, not sent again), a reply that is
not HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from loadtest.http1 import Http1, HttpError, parse_head

Script = Callable[[socket.socket, bytes], bool]  # answer one request; False: close


def read_request(conn: socket.socket, buf: bytearray) -> bytes | None:
    """One whole request (head + Content-Length body) from ``conn``, None at EOF."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buf[:end]).split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(buf) < end + length:
        buf += conn.recv(65536)
    req = bytes(buf[:end + length])
    del buf[:end + length]
    return req


class Server:
    """Each accepted connection answers its requests with the next scripts in turn."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = list(scripts)
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            buf = bytearray()
            with conn:
                while self.scripts:
                    req = read_request(conn, buf)
                    if req is None:
                        break
                    self.requests.append(req)
                    if not self.scripts.pop(0)(conn, req):
                        break

    def close(self) -> None:
        self.sock.close()


def answer(status: int = 200, body: bytes = b'{"ok":true}', extra: str = "") -> Script:
    def go(conn: socket.socket, req: bytes) -> bool:
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return "connection: close" not in extra.lower()
    return go


def chunked(parts: list[bytes]) -> Script:
    def go(conn: socket.socket, req: bytes) -> bool:
        out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        for p in parts:
            out += f"{len(p):x}\r\n".encode() + p + b"\r\n"
        conn.sendall(out + b"0\r\n\r\n")
        return True
    return go


def close_silently(conn: socket.socket, req: bytes) -> bool:
    return False


def half_then_close(conn: socket.socket, req: bytes) -> bool:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial")
    return False


def hang(conn: socket.socket, req: bytes) -> bool:
    time.sleep(1.5)  # answers nothing; closes after the client has given up
    return False


@pytest.fixture
def serve():
    servers: list[Server] = []

    def make(*scripts: Script) -> Server:
        servers.append(Server(list(scripts)))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_keep_alive_bodies_and_headers(serve):
    srv = serve(answer(201, b'{"id":"r1"}', "Retry-After: 2\r\n"), chunked([b'{"a":', b"1}"]),
                answer(409, b""))
    c = Http1(srv.url)
    first = c.request("POST", "/v1/reservations", b'{"lines":[]}',
                      {"Authorization": "Bearer k", "Idempotency-Key": "i-1"})
    assert first.status_code == 201 and first.content == b'{"id":"r1"}'
    assert first.headers["retry-after"] == "2"
    assert c.request("GET", "/v1/x").content == b'{"a":1}'
    assert c.request("POST", "/v1/y").status_code == 409
    assert srv.connections == 1  # one connection for all three
    head, _, body = srv.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/reservations HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Idempotency-Key: i-1" in head and b"Content-Length: 12" in head
    assert body == b'{"lines":[]}'
    assert b"Content-Length: 0" in srv.requests[2]  # a POST without a body says so


def test_a_stale_connection_is_sent_again_once(serve):
    srv = serve(answer(), close_silently, answer(200, b"again"))
    c = Http1(srv.url)
    c.request("GET", "/a")
    assert c.request("POST", "/b", b"{}").content == b"again"
    assert srv.connections == 2 and [r.split(b" ")[1] for r in srv.requests] == [b"/a", b"/b", b"/b"]


def test_a_fresh_connection_closed_unanswered_is_an_error(serve):
    srv = serve(close_silently)
    with pytest.raises(HttpError):
        Http1(srv.url).request("POST", "/b", b"{}")
    assert len(srv.requests) == 1  # not sent again


def test_an_answer_cut_short_is_an_error_and_the_next_request_reconnects(serve):
    srv = serve(half_then_close, answer(200, b"next"))
    c = Http1(srv.url)
    with pytest.raises(HttpError):
        c.request("POST", "/b", b"{}")
    assert len(srv.requests) == 1  # part of an answer came back: never sent twice
    assert c.request("GET", "/c").content == b"next" and srv.connections == 2


def test_connection_close_and_a_body_to_the_end(serve):
    def to_the_end(conn: socket.socket, req: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nall of it")
        return False
    srv = serve(answer(200, b"x", "Connection: close\r\n"), to_the_end)
    c = Http1(srv.url)
    assert c.request("GET", "/a").content == b"x" and c.sock is None
    assert c.request("GET", "/b").content == b"all of it"
    assert srv.connections == 2


def test_not_http_and_bad_urls():
    with pytest.raises(HttpError):
        parse_head(b"SSH-2.0-OpenSSH")
    assert parse_head(b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nX-A:b") == (
        503, {"retry-after": "1", "x-a": "b"})
    with pytest.raises(ValueError):
        Http1("ftp://example.com")
    assert Http1("https://api.example.com/base/").prefix == "/base"
    assert Http1("https://api.example.com").port == 443
    v6 = Http1("http://u:p@[::1]:8080/")
    assert (v6.host, v6.port, v6.host_header) == ("::1", 8080, "[::1]:8080")


def test_an_overdue_answer_is_an_error_not_sent_again(serve):
    srv = serve(answer(), hang, answer(200, b"later"))
    c = Http1(srv.url, timeout=0.3)
    c.request("GET", "/a")  # the connection is reused: a stale one would be sent again
    t0 = time.monotonic()
    with pytest.raises(HttpError, match="no answer within 0.3 s"):
        c.request("POST", "/b", b"{}")
    assert time.monotonic() - t0 < 1.4  # the watchdog's deadline, not the server's close
    assert [r.split(b" ")[1] for r in srv.requests] == [b"/a", b"/b"]
    c.timeout = 5.0  # this server accepts once the hanging script is over
    assert c.request("GET", "/c").content == b"later"  # a new connection serves the next
