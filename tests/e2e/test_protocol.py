"""The API's own HTTP protocol (api.server.CheckoutProtocol), spoken to over raw
sockets: keep-alive, pipelining, chunked bodies, 100-continue, body limits, a client
that leaves mid-body, metrics of the routes it serves outside ASGI."""

from __future__ import annotations

import json
import socket
import uuid
from urllib.parse import urlparse

import httpx

from tests.support.http import auth, restock

TOKEN = "test-checkout-key"
LIMIT = 200_000  # ALLOCATOR_API_MAX_BODY_BYTES of the e2e server


def connect(server: str) -> socket.socket:
    u = urlparse(server)
    s = socket.create_connection((u.hostname, u.port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request(method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> bytes:
    head = {"Host": "test", "Authorization": f"Bearer {TOKEN}", **(headers or {})}
    if body is not None and "Transfer-Encoding" not in head:
        head.setdefault("Content-Length", str(len(body)))
        head.setdefault("Content-Type", "application/json")
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in head.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Reader:
    """Reads HTTP/1.1 responses (Content-Length framed) off a socket, in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), "connection closed before a response"
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines)}
        n = int(headers.get("content-length", 0))
        while len(self.buf) < n:
            assert self._fill(), "connection closed mid-body"
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        """True when the server closes the connection (nothing more comes)."""
        try:
            return not self._fill()
        except ConnectionResetError:
            return True


def reserve_body(sku: str, qty: int = 1) -> bytes:
    return json.dumps({"lines": [{"sku": sku, "warehouse": "WH-DEL", "qty": qty}]}).encode()


def test_keep_alive_and_pipelined_requests_answer_in_order(server, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 5)
    with connect(server) as s:
        s.sendall(b"".join(request("POST", "/v1/reservations", reserve_body(sku, q),
                                   {"Idempotency-Key": str(uuid.uuid4())}) for q in (1, 2)))
        r = Reader(s)
        answers = [r.response() for _ in range(2)]
        assert [a[0] for a in answers] == [201, 201]
        first, second = (json.loads(a[2]) for a in answers)
        assert [first["lines"][0]["qty"], second["lines"][0]["qty"]] == [1, 2]
        assert answers[0][1]["content-type"] == "application/json"
        s.sendall(request("GET", f"/v1/reservations/{second['id']}"))
        status, _, body = r.response()
        assert status == 200 and json.loads(body)["id"] == second["id"]
        s.sendall(request("GET", "/v1/no-such-route"))  # FastAPI's path, same connection
        status, headers, _ = r.response()
        assert status == 404 and headers["content-type"].startswith("application/problem+json")


def test_chunked_body_and_expect_100_continue(server, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 5)
    body = reserve_body(sku)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:7], body[7:])) + b"0\r\n\r\n"
    with connect(server) as s:
        s.sendall(request("POST", "/v1/reservations", None,
                          {"Idempotency-Key": str(uuid.uuid4()),
                           "Transfer-Encoding": "chunked",
                           "Content-Type": "application/json"}) + chunks)
        status, _, answer = Reader(s).response()
        assert status == 201, answer
    with connect(server) as s:
        s.sendall(request("POST", "/v1/reservations", None,
                          {"Idempotency-Key": str(uuid.uuid4()), "Expect": "100-continue",
                           "Content-Length": str(len(body)),
                           "Content-Type": "application/json"}))
        r = Reader(s)
        while b"\r\n\r\n" not in r.buf:
            assert r._fill()
        assert r.buf.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        r.buf = r.buf[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        s.sendall(body)
        status, _, answer = r.response()
        assert status == 201, answer


def test_http_1_0_gets_its_answer_and_the_connection_closes(server, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 1)
    body = reserve_body(sku)
    raw = request("POST", "/v1/reservations", body, {"Idempotency-Key": str(uuid.uuid4())})
    with connect(server) as s:
        s.sendall(raw.replace(b"HTTP/1.1", b"HTTP/1.0", 1))
        r = Reader(s)
        status, headers, answer = r.response()
        assert status == 201, answer
        assert headers["connection"] == "close" and r.closed()


def test_bodies_over_the_limit_get_413_and_the_connection_closes(server):
    with connect(server) as s:  # declared: answered before the body is sent
        s.sendall(request("POST", "/v1/reservations", None,
                          {"Idempotency-Key": "k", "Content-Length": str(LIMIT + 1),
                           "Content-Type": "application/json"}))
        r = Reader(s)
        status, headers, body = r.response()
        assert status == 413 and headers["connection"] == "close"
        assert json.loads(body)["type"].endswith("payload-too-large")
        assert r.closed()
    with connect(server) as s:  # chunked: counted as it arrives
        s.sendall(request("POST", "/v1/reservations", None,
                          {"Idempotency-Key": "k", "Transfer-Encoding": "chunked"}))
        piece = b"x" * 65536
        try:
            for _ in range(LIMIT // len(piece) + 2):
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the last piece
        status, _, _ = Reader(s).response()
        assert status == 413


def test_a_client_leaving_mid_body_leaves_the_server_serving(server, http, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 1)
    for _ in range(20):
        with connect(server) as s:
            s.sendall(request("POST", "/v1/reservations", None,
                              {"Idempotency-Key": str(uuid.uuid4()), "Content-Length": "500",
                               "Content-Type": "application/json"}) + b'{"lines": [')
    r = http.post("/v1/reservations", content=reserve_body(sku),
                  headers={"Idempotency-Key": str(uuid.uuid4()),
                           "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    inv = http.get(f"/v1/inventory/{sku}").json()["warehouses"]["WH-DEL"]
    assert (inv["held"], inv["available"]) == (1, 0)  # the leavers held nothing


def test_routes_served_outside_asgi_are_counted_in_metrics(server, http, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 1)

    def count() -> float:
        text = httpx.get(f"{server}/metrics", headers=auth(TOKEN)).text
        line = next((x for x in text.splitlines() if x.startswith("allocator_http_requests_total{")
                     and 'route="/v1/reservations"' in x and 'status="201"' in x), None)
        return 0.0 if line is None else float(line.rsplit(" ", 1)[1])

    before = count()
    r = http.post("/v1/reservations", content=reserve_body(sku),
                  headers={"Idempotency-Key": str(uuid.uuid4()),
                           "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert count() == before + 1


def test_the_protocol_finds_the_hot_path_under_uvicorns_wrappers():
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from api.app import create_app
    from api.server import hot_path_of
    from api.settings import ApiSettings

    app = create_app(ApiSettings.from_env())
    assert hot_path_of(ProxyHeadersMiddleware(app)) is app.hot is not None
    assert hot_path_of(object()) is None
