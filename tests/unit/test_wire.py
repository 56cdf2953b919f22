"""The shards' data plane on real sockets: a hello with the wire token, then frames
answered in order — over TCP and over the unix socket a client on the same machine
uses; a wrong token is turned away; an unreachable unix socket falls back to TCP."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from actors.links import open_wire, read_frame
from actors.wire import WireServer, frame

TOKEN = b"t" * 32

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="abstract unix sockets are Linux's")


@pytest.fixture
def server():
    srv = WireServer({"echo": lambda req: {"got": req["x"]}}, TOKEN, "127.0.0.1", "t")
    yield srv
    srv.close()


async def _talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                token: bytes = TOKEN) -> list:
    writer.write(frame({"op": "hello", "id": 0, "token": token}))
    hello = await read_frame(reader)
    if hello is None:
        return [None]
    writer.write(frame({"op": "echo", "id": 1, "x": 7}) + frame({"op": "nope", "id": 2}))
    answers = [hello, await read_frame(reader), await read_frame(reader)]
    writer.close()
    return answers


def test_frames_over_tcp_and_the_unix_socket(server):
    async def go(unix: bool) -> list:
        if unix:
            r, w = await asyncio.open_unix_connection(server.unix_path)
        else:
            r, w = await asyncio.open_connection(*server.address)
        return await _talk(r, w)

    for unix in (False, True):
        hello, echo, unknown = asyncio.run(go(unix))
        assert hello["ok"] and echo == {"got": 7, "id": 1}
        assert unknown["id"] == 2 and unknown["error"] == "allocator_error"
        assert "unknown wire op" in unknown["message"]


def test_a_wrong_token_is_turned_away(server):
    async def go() -> list:
        r, w = await asyncio.open_unix_connection(server.unix_path)
        return await _talk(r, w, b"x" * 32)
    assert asyncio.run(go()) == [None]


def test_a_client_on_this_machine_takes_the_unix_socket(server):
    async def go(host: str, unix_path: str | None) -> int:
        r, w = await open_wire(host, server.address[1], unix_path)
        family = w.get_extra_info("socket").family
        hello, echo, _ = await _talk(r, w)
        assert hello["ok"] and echo["got"] == 7
        return family

    assert asyncio.run(go("127.0.0.1", server.unix_path)) == socket.AF_UNIX
    assert asyncio.run(go("127.0.0.1", None)) == socket.AF_INET
    # a unix socket this machine cannot reach (another namespace): TCP instead
    assert asyncio.run(go("127.0.0.1", "\0allocator-wire-nobody")) == socket.AF_INET
