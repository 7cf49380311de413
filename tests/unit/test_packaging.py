"""`pip install .` builds a clean wheel: every package and data file, and no packaging warnings
(the locales once came with "Installing 'bot.locales' as data is deprecated")."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_builds_without_warnings_and_holds_every_package_and_catalogue(
    tmp_path: Path,
) -> None:
    # Built from a copy: setuptools leaves build/ behind, and a stale one would hide files.
    source = tmp_path / "source"
    junk = shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "demo-data", "*.db*")
    shutil.copytree(ROOT, source, ignore=junk)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    log = out.stdout + out.stderr
    warnings = [
        line
        for line in log.splitlines()
        if "warning" in line.lower() and "byte-compiling is disabled" not in line
    ]
    assert warnings == []
    (wheel,) = tmp_path.glob("natverk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "bot/locales/sv.yaml",
        "bot/locales/en.yaml",
        "bot/clock.py",
        "bot/demo/homeserver.py",
        "commands/questions/status.py",
        "commands/materials/extract.py",
        "commands/checkins/polls.py",
        "commands/surveys/chart.py",
        "config/example.yaml",
        "storage/questions.py",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]
