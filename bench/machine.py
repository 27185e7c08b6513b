"""What the numbers were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.environment import ROOT


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu: str
    memory_gib: float
    python: str
    system: str
    date: str
    commit: str
    load_at_start: str


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def _commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=10,
        )  # fmt: skip
        return result.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe() -> Machine:
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    return Machine(
        cores=len(os.sched_getaffinity(0)),
        cpu=_cpu_model(),
        memory_gib=_memory_gib(),
        python=platform.python_version(),
        system=f"{platform.system()} {platform.release()}",
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=_commit(),
        load_at_start=load,
    )
