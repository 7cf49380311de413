"""The README's main command, scripted: a newcomer with no Matrix client sees the flow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_script_plays_a_question_and_answer_end_to_end(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--script", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, run.stderr[-3000:]
    assert "[bertil sees] @natverk:localhost: Kommandon du kan använda här:" in out
    assert "Fråga #1 är skickad till rådgivarna" in out
    assert "[radgivare1 sees] @natverk:localhost: [NY] #1 · Pedagogisk fråga" in out
    assert "[TAGEN av Radgivare1]" in out
    assert "[cecilia sees] @natverk:localhost: Svar från rådgivarna (fråga #1):" in out
    assert "#1 [BESVARAD]" in out
    assert "(the internal note reached the cohort: no)" in out
    # Passwords are kept private to the demo's data dir, never in the YAML.
    assert (tmp_path / "passwords.json").stat().st_mode & 0o077 == 0
    assert "password" not in (tmp_path / "natverk-demo.yaml").read_text("utf-8")
