"""The servers of a bench run, each a subprocess on 127.0.0.1 that the run stops itself: the
fake upstream, our app under uvicorn (1 or 4 workers), and a peer gateway."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.environment import ROOT

START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    command: Sequence[str]
    port: int
    env: dict[str, str]
    ready_path: str = "/"
    log_path: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        log = self.log_path.open("wb") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            list(self.command),
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its workers
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up ({self._log_tail()})")
            try:
                httpx.get(self.url + self.ready_path, timeout=2.0)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {START_TIMEOUT:.0f} s")

    def _log_tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-2000:]
        return "no log"

    def worker_pids(self) -> list[int]:
        """The processes serving requests: uvicorn's worker children, else the process."""
        if self.process is None:
            return []
        children = _children(self.process.pid)
        return children or [self.process.pid]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(child) for child in path.read_text().split()]
    except (OSError, ValueError):
        return []


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def fake_upstream(env: dict[str, str], *, chunks: int, chunk_size: int, delay: float,
                  first_delay: float = 0.0, log_path: Path | None = None) -> Server:  # fmt: skip
    port = free_port()
    command = [
        sys.executable, "-m", "bench.upstream", "--port", str(port),
        "--chunks", str(chunks), "--chunk-size", str(chunk_size), "--delay", str(delay),
        "--first-delay", str(first_delay),
    ]  # fmt: skip
    return Server("fake upstream", command, port, env, ready_path="/v1/models", log_path=log_path)


def our_app(env: dict[str, str], *, workers: int, log_path: Path | None = None) -> Server:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "config.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-server-header", "--no-access-log", "--log-level", "warning",
        "--backlog", "4096", "--timeout-graceful-shutdown", "5",
    ]  # fmt: skip
    return Server(
        f"our app ({workers} worker{'s' if workers > 1 else ''})",
        command, port, env, ready_path="/healthz", log_path=log_path,
    )  # fmt: skip
