"""Start `wsis serve` as a child process on a free 127.0.0.1 port and wait for it (tests and scripts)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(env: dict, timeout: float = 120.0, encoder_ready: bool = True, output=subprocess.DEVNULL,
          args: tuple[str, ...] = ()):
    """(process, base URL) once /health answers (and, with `encoder_ready`, the encoder is loaded); `args`:
    more `wsis serve` arguments (e.g. ("--workers", "2")). Raises RuntimeError if the server exits or does
    not answer in time."""
    port = free_port()
    wsis = shutil.which("wsis", path=str(Path(sys.executable).parent)) or "wsis"
    proc = subprocess.Popen([wsis, "serve", "--port", str(port), *args], env=env, stdout=output,
                            stderr=subprocess.STDOUT if output is subprocess.PIPE else output, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("wsis serve exited: " + (proc.stdout.read() if proc.stdout else ""))
        try:
            health = httpx.get(base + "/health", timeout=2)
            if health.status_code == 200 and (not encoder_ready or health.json().get("encoder") == "ready"):
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError("wsis serve did not become ready in time")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def raw_http(base: str, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data` as is to the server at `base` (http://host:port) and return every byte it answers with:
    for requests an HTTP client refuses to send (bad Content-Length, oversized or chunked bodies)."""
    host, port = base.rsplit("/", 1)[-1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return out
