"""Loopback helpers for tests that start real servers (uvicorn, SMTP)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx

# How long a server may take to answer /readyz. Starting one imports the whole app in
# each worker process, which on a busy machine (tests on every core) has taken over 30 s;
# a server that starts sooner is used as soon as it answers.
STARTUP_SECONDS = 120


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until a server started as ``process`` answers /readyz; its log on failure."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server not ready after {STARTUP_SECONDS}s:\n{log_path.read_text()}")
