from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.cli import main as natverk

EXAMPLE = Path(__file__).parents[2] / "config" / "example.yaml"


def test_check_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert natverk(["check", str(EXAMPLE)]) == 0
    assert "OK (2 cohorts" in capsys.readouterr().out


def test_check_names_file_line_and_path_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text("utf-8").replace("facilitators:", "facilitatorz:", 1))
    assert natverk(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "facilitatorz" in t)
    assert f"{bad}:{line}: cohorts[0].facilitatorz: unknown key" in err


def test_run_refuses_an_invalid_file_without_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("homeserver: http://127.0.0.1:9\nbot: {user_id: nope}\n")
    assert natverk(["run", str(bad)]) == 2
    assert "did not start" in capsys.readouterr().err
    assert not (tmp_path / "natverk.db").exists()


def test_run_without_credentials_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NATVERK_PASSWORD", raising=False)
    monkeypatch.delenv("NATVERK_ACCESS_TOKEN", raising=False)
    config = tmp_path / "natverk.yaml"
    shutil.copy(EXAMPLE, config)
    assert natverk(["run", str(config)]) == 1
    assert "NATVERK_PASSWORD" in capsys.readouterr().err


def test_backup_writes_a_copy_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "natverk.yaml"
    shutil.copy(EXAMPLE, config)
    dest = tmp_path / "copy.db"
    assert natverk(["backup", str(config), str(dest)]) == 0
    assert dest.exists() and dest.stat().st_size > 0
    assert natverk(["backup", str(config), str(dest)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_health_needs_metrics_listen_and_fails_when_nothing_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    assert natverk(["health", str(EXAMPLE)]) == 2
    assert "metrics.listen is not set" in capsys.readouterr().err
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with_metrics = tmp_path / "natverk.yaml"
    with_metrics.write_text(
        EXAMPLE.read_text("utf-8") + f'\nmetrics:\n  listen: "127.0.0.1:{port}"\n', "utf-8"
    )
    assert natverk(["health", str(with_metrics)]) == 1
    assert f"no answer from http://127.0.0.1:{port}/health" in capsys.readouterr().err


def test_json_logs_are_one_object_per_line_with_the_reference_users_see(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json
    import logging

    from bot.cli import _setup_logging

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []
    try:
        _setup_logging(False, "json")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("bot.dispatcher").exception(
                "Handler %s failed on %s (ref %s)", "ask", "$e", "AB12CD34",
                extra={"ref": "AB12CD34", "event_id": "$e", "handler": "ask"},
            )  # fmt: skip
        logging.getLogger("natverk").info("natverk is running as %s", "@bot:x")
    finally:
        root.handlers, root.level = saved, level
    lines = capsys.readouterr().err.strip().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    failed = next(r for r in records if r.get("ref") == "AB12CD34")
    assert failed["level"] == "ERROR" and failed["logger"] == "bot.dispatcher"
    assert failed["message"] == "Handler ask failed on $e (ref AB12CD34)"
    assert "ValueError: boom" in failed["exc_info"]
    assert {"time", "level", "logger", "message"} <= set(records[-1])
