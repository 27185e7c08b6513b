"""Peer gateways, each in a virtualenv of its own under bench/.peers/ (not in our .venv: their
dependencies must not change ours). Today: LiteLLM's proxy, started offline on 127.0.0.1:
no database, no remote model-cost map, blog feed or other downloaded data, no telemetry."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from string import Template

from bench.environment import ROOT
from bench.processes import Server, free_port

PEERS = ROOT / "bench" / ".peers"
LITELLM_VERSION = "1.106.12"  # the newest whose [proxy] extra resolves on the package index
LITELLM_VENV = PEERS / "litellm"
LITELLM_MODEL = "bench-model"
# Split (and kept split by `+`, which the formatter leaves alone) so that no tracked line
# looks like a real provider key.
LITELLM_KEY = "sk-" + "bench-litellm-master"
TEMPLATE = Path(__file__).with_name("templates") / "litellm.yaml"

# Everything LiteLLM would otherwise fetch at start-up is read from its own package instead.
OFFLINE = {
    "LITELLM_MODE": "PRODUCTION",  # no .env loading from the working folder
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_LOG": "ERROR",
    "NO_PROXY": "127.0.0.1,localhost",
}


def _base_python() -> str:
    import sys

    return getattr(sys, "_base_executable", sys.executable)


def ensure_litellm() -> Path:
    """The proxy's executable, installing the pinned version on first use."""
    executable = LITELLM_VENV / "bin" / "litellm"
    marker = LITELLM_VENV / f".installed-{LITELLM_VERSION}"
    if executable.exists() and marker.exists():
        return executable
    print(f"Installing litellm[proxy]=={LITELLM_VERSION} into {LITELLM_VENV} (first run only)…")
    if not (LITELLM_VENV / "bin" / "python").exists():
        subprocess.run([_base_python(), "-m", "venv", str(LITELLM_VENV)], check=True)
    pip = [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    # From the venv's folder: in ours, pip would take our egg-info for an installed package.
    subprocess.run([*pip, "--upgrade", "pip"], check=True, cwd=LITELLM_VENV)
    subprocess.run([*pip, f"litellm[proxy]=={LITELLM_VERSION}"], check=True, cwd=LITELLM_VENV)
    marker.touch()
    return executable


def litellm_proxy(
    upstream_base_url: str, workdir: Path, upstream_model: str = "model-01"
) -> Server:
    executable = ensure_litellm()
    config = workdir / "litellm.yaml"
    config.write_text(
        Template(TEMPLATE.read_text()).substitute(
            model_name=LITELLM_MODEL,
            upstream_model=upstream_model,
            upstream_base_url=upstream_base_url,
            master_key=LITELLM_KEY,
        )
    )
    # A clean environment: never our DATABASE_URL (LiteLLM would try to use it) or keys.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        **OFFLINE,
    }
    port = free_port()
    command = [
        str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
        "--num_workers", "1",
    ]  # fmt: skip
    return Server(
        f"LiteLLM proxy {LITELLM_VERSION}",
        command,
        port,
        env,
        ready_path="/health/liveliness",
        log_path=workdir / "litellm.log",
    )
