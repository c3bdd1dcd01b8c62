"""A small HTTP load generator and the server processes it measures (loopback only).

The client speaks HTTP/1.1 with keep-alive over asyncio streams: far lighter than a
general HTTP client, so on a 2-core machine the server, not the client, is what is
measured. Every run is bounded by a duration or a request count.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _one_client(
    port: int, paths: Callable[[], str], headers: str, stop: Callable[[int], bool],
    latencies: list[float], errors: list[int], body: bytes | None, ok: frozenset[int],
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    method, content = "GET", b""
    if body is not None:
        method, content = "POST", body
        headers += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    try:
        while not stop(len(latencies)):
            request = (f"{method} {paths()} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n"
                       .encode() + content)
            started = time.perf_counter()
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if status not in ok:
                errors.append(status)
    finally:
        writer.close()


def run_load(
    port: int, paths: Callable[[], str], *, token: str | None = None, clients: int = 1,
    seconds: float | None = None, requests: int | None = None, body: bytes | None = None,
    ok: frozenset[int] = frozenset({200}),
) -> LoadResult:
    """``clients`` connections sending requests back to back, for ``seconds`` or until
    ``requests`` responses (whichever is given) have come back. With a ``body``, each
    request is a POST of it (JSON); a status outside ``ok`` counts as an error."""
    headers = f"Authorization: Bearer {token}\r\n" if token else ""
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else None

    def stop(done: int) -> bool:
        if deadline is not None and time.perf_counter() >= deadline:
            return True
        return requests is not None and done >= requests

    async def main() -> None:
        await asyncio.gather(*(_one_client(port, paths, headers, stop, latencies, errors, body, ok)
                               for _ in range(clients)))

    asyncio.run(main())
    return LoadResult(len(latencies), len(errors), time.perf_counter() - started,
                      tuple(latencies))


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server process (``followup serve`` or the minimal app) on a free port."""

    def __init__(self, command: Sequence[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            list(command), env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )

    @classmethod
    def followup(cls, database_url: str, workers: int) -> Server:
        port = free_port()
        command = [sys.executable, "-m", "app", "serve", "--host", HOST, "--port", str(port),
                   "--workers", str(workers)]
        return cls(command, {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}, port)

    @classmethod
    def minimal(cls, database_url: str, workers: int) -> Server:
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "bench.minimal_app:create_app", "--factory",
                   "--host", HOST, "--port", str(port), "--workers", str(workers),
                   "--no-access-log", "--log-level", "warning"]
        return cls(command, {"BENCH_DATABASE_URL": database_url}, port)

    def wait_ready(self, path: str = "/healthz", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"server exited with {self.process.returncode}: {err[-2000:]}")
            try:
                result = run_load(self.port, lambda: path, requests=1)
                if result.requests and not result.errors:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server on port {self.port} not ready after {timeout} s")

    def processes(self) -> list[int]:
        """The server's process and its workers."""
        found = [self.process.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(entry.name))
        return found

    def peak_rss_mb(self) -> tuple[float, float]:
        """(largest peak RSS of one process, sum of the processes' peak RSS), in MiB."""
        peaks = [peak_rss_mb(pid) for pid in self.processes()]
        return max(peaks, default=0.0), sum(peaks)

    def cpu_ms(self) -> float:
        """CPU time (user and system) the server's processes have used so far, in ms."""
        return sum(cpu_ms(pid) for pid in self.processes())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def peak_rss_mb(pid: int | str) -> float:
    """The peak resident set size of a live process (VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_ms(pid: int | str) -> float:
    """The CPU time (user and system) a live process has used, in ms."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
