"""Small helpers the integration tests share: reading events, running `natverk run`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.demo.person import Event


def body(ev: Event) -> str:
    return str((ev.get("content") or {}).get("body", ""))


def rel(ev: Event) -> dict[str, Any]:
    return (ev.get("content") or {}).get("m.relates_to") or {}


def start_natverk(config: Path, password: str, log: Path) -> subprocess.Popen[bytes]:
    """The real `natverk run` process, logging to ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", str(config)],
        env={**os.environ, "NATVERK_PASSWORD": password},
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def kill(proc: subprocess.Popen[bytes]) -> None:
    """kill -9, as a crash would."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
