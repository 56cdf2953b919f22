"""A buyer's HTTP/1.1 connection: one keep-alive socket (plain or TLS), requests with
a ``Content-Length`` body, responses with ``Content-Length`` or chunked bodies.

FastHttpUser's client (geventhttpclient behind Locust's user agent layer) costs the
generator about 0.3 ms of CPU per request before any buyer logic; at the rates a
rehearsal offers that is a large share of a 2-core machine, taken from the server it
measures. A buyer needs much less: the same host on every request, a few headers, a
JSON body. This client writes the request in one ``sendall`` and parses the answer
with ``bytes`` operations (status line, the headers it is asked for, the body), on
gevent's cooperative sockets (Locust patches ``socket``).

The answer's deadline (``timeout``) is kept by one watchdog per process, not by the
socket: under gevent a socket timeout arms a timer on every wait for data — about a
tenth of the generator's CPU. The watchdog shuts down a connection whose answer is
overdue; the waiting request then fails as on any broken connection.

A request sent on a reused connection that failed (the server closed it after its
keep-alive timeout, or died) is sent once more on a fresh one when not a byte of the
answer came back;
the rehearsal's buyer requests are all repeatable (an ``Idempotency-Key`` or a state
transition that answers the same twice).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import weakref
from typing import NamedTuple
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
WATCH_S = 0.5  # how often the watchdog looks for overdue answers


class HttpError(Exception):
    """The connection failed or the answer was not HTTP/1.x."""


class Answer(NamedTuple):
    """An HTTP answer: its status, lower-cased headers and body."""

    status_code: int
    headers: dict[str, str]
    content: bytes


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status code and the lower-cased headers of a response head (no blank line)."""
    status_line, _, rest = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise HttpError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in rest.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return int(parts[1]), headers


class Http1:
    """One keep-alive connection to ``base_url`` (``http://`` or ``https://``)."""

    def __init__(self, base_url: str, timeout: float = 30.0,
                 connect_timeout: float = 10.0) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"want an http(s) URL, got {base_url!r}")
        self.tls = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port or (443 if self.tls else 80)
        self.prefix = url.path.rstrip("/")
        self.host_header = url.netloc.rpartition("@")[2]  # as written, [IPv6] and port kept
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.sock: socket.socket | None = None
        self.buf = b""
        self.got_bytes = False  # of the current request's answer
        self.deadline = 0.0     # monotonic time the current answer is due by (0: idle)
        self.expired = False    # the watchdog ended the current request's connection
        _watch(self)

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock, self.buf = None, b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        sock.settimeout(None)  # the watchdog keeps the deadline (see the module's doc)
        return sock

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        """Send one request and read its answer; HttpError (or OSError) when the
        connection fails, after which the next request opens a new one."""
        lines = [f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}\r\n")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}\r\n")
        wire = "".join(lines).encode("latin-1") + b"\r\n" + (body or b"")
        for attempt in (1, 2):
            reused = self.sock is not None
            self.got_bytes = self.expired = False
            try:
                return self._exchange(wire, method)
            except (_Stale, ConnectionResetError, BrokenPipeError, HttpError) as exc:
                self.close()
                if self.expired:
                    raise HttpError(f"no answer within {self.timeout:g} s") from None
                if isinstance(exc, HttpError):
                    raise
                if not reused or self.got_bytes or attempt == 2:
                    raise HttpError(f"the connection failed: {exc!r}") from None
                # the server had closed the idle connection: once more on a new one
            except BaseException:
                self.close()  # a half-read answer must not be taken for the next one's
                raise
        raise AssertionError("unreachable")

    def _exchange(self, wire: bytes, method: str) -> Answer:
        if self.sock is None:
            self.sock, self.buf = self._connect(), b""
        self.deadline = time.monotonic() + self.timeout
        try:
            return self._send_and_read(wire, method)
        finally:
            self.deadline = 0.0

    def overdue(self, now: float) -> bool:
        """Whether the answer being read is past its deadline."""
        return 0.0 < self.deadline < now

    def _send_and_read(self, wire: bytes, method: str) -> Answer:
        assert self.sock is not None
        sent = self.sock.send(wire)  # a request fits the socket's buffer: one call
        if sent < len(wire):         # (gevent's sendall asks the buffer size each time)
            self.sock.sendall(wire[sent:])
        head = self._read_head()
        status, headers = parse_head(head)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            content = self._read_chunked()
        elif "content-length" in headers:
            content = self._read_exact(int(headers["content-length"]))
        elif method == "HEAD" or status in (204, 304) or status < 200:
            content = b""
        else:  # the body runs to the end of the connection
            content = self._read_to_close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, headers, content)

    def _fill(self, first: bool = False) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            if first:
                raise _Stale("closed before answering")
            raise HttpError("the server closed the connection mid-answer")
        self.got_bytes = True
        self.buf += data

    def _read_head(self) -> bytes:
        first = not self.buf
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if len(self.buf) > MAX_HEAD:
                raise HttpError("response head too large")
            self._fill(first)
            first = False
        head, self.buf = self.buf[:end], self.buf[end + 4:]
        return head

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_to_close(self) -> bytes:
        assert self.sock is not None
        while data := self.sock.recv(65536):
            self.buf += data
        out = self.buf
        self.close()
        return out

    def _read_line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            self._fill()
        line, self.buf = self.buf[:end], self.buf[end + 2:]
        return line

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self._read_line().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self._read_line():  # trailers, up to the blank line
                    pass
                return b"".join(parts)
            parts.append(self._read_exact(size))
            self._read_line()


_OPEN: "weakref.WeakSet[Http1]" = weakref.WeakSet()
_WATCHDOG: list[threading.Thread] = []


def _watch(conn: Http1) -> None:
    """Put ``conn`` under the watchdog (started with the first connection; a greenlet
    when Locust has patched ``threading``)."""
    _OPEN.add(conn)
    if not _WATCHDOG:
        t = threading.Thread(target=_watchdog, name="http1-watchdog", daemon=True)
        _WATCHDOG.append(t)
        t.start()


def _watchdog() -> None:
    """Shut down every connection whose answer is overdue: its reader sees the
    connection end and fails (``HttpError``)."""
    while True:
        time.sleep(WATCH_S)
        now = time.monotonic()
        for conn in list(_OPEN):
            sock = conn.sock
            if sock is not None and conn.overdue(now):
                conn.expired = True
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Stale(Exception):
    """A reused connection was closed before a byte of the answer came back."""
