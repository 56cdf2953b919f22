"""A rehearsal against a --host it cannot read fails at once with what to fix."""

from __future__ import annotations

import httpx

from commands.main import main
from loadtest.rehearse import unreachable


def _status(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "https://alloc.example.com/v1/inventory/PHONE-0000")
    response = httpx.Response(code, request=request)
    return httpx.HTTPStatusError(f"HTTP {code}", request=request, response=response)


def test_each_first_read_failure_says_what_to_fix():
    host = "https://alloc.example.com"
    assert "refused the read key (HTTP 401)" in str(unreachable(_status(401), host))
    assert "--ops-key" in str(unreachable(_status(403), host))
    assert str(unreachable(_status(404), host)) == (
        f"{host} answered HTTP 404 to GET /v1/inventory/PHONE-0000")
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    assert str(unreachable(refused, host)) == f"cannot reach {host}: [Errno 111] Connection refused"


def test_the_command_exits_2_with_the_message_not_a_traceback(tmp_path, capsys):
    rc = main(["rehearse", "--host", "http://127.0.0.1:1", "--checkout-key", "k",
               "--ops-key", "o", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("allocator rehearse: cannot reach http://127.0.0.1:1")
    assert "Traceback" not in err
