"""Child processes: free ports, ``uvicorn`` in its own process, readiness, stopping."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_uvicorn(port: int, env: dict[str, str], factory: str = "api.app:create_app",
                  workers: int = 1, http: str = "auto") -> subprocess.Popen:
    """``uvicorn --factory FACTORY`` in its own process on 127.0.0.1:``port``;
    ``http`` is uvicorn's ``--http`` (a name or ``module:Class``)."""
    cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", "--no-access-log", "--http", http]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    return subprocess.Popen(cmd, env=env, cwd=str(ROOT))


def wait_until_ready(base_url: str, proc: "subprocess.Popen | None" = None,
                     timeout_s: float = 90.0, path: str = "/readyz") -> None:
    """Poll ``path`` until 200; RuntimeError if ``proc`` exits or time runs out."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base_url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"{base_url} did not become ready"
                               + ("" if proc is None else f" (exit code {proc.poll()})"))
        time.sleep(0.3)


def stop_process(proc: "subprocess.Popen | None", timeout_s: float = 20.0) -> None:
    """Terminate, wait, kill if it will not go."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
