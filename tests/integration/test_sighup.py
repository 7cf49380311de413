"""An admin edits the YAML and sends SIGHUP to the running `natverk run` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from bot.person import Event


def body(ev: Event) -> str:
    return str((ev.get("content") or {}).get("body", ""))


async def test_sighup_reloads_and_an_invalid_file_is_reported_to_admins(
    network: Any, make_user: Any
) -> None:
    net = network(participants=1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", str(net.config_path)],
        env={**os.environ, "NATVERK_PASSWORD": net.bot.password},
        stdout=subprocess.DEVNULL,
        stderr=(net.dir / "bot.log").open("ab"),
    )
    try:
        admin = await net.person(net.admin)
        await admin.wait_until(lambda: bool(admin.invites), timeout=60)
        dm = next(iter(admin.invites))
        await admin.join(dm)
        good = net.config_path.read_text("utf-8")

        net.config_path.write_text(good.replace("cohorts:", "kohorter:", 1), "utf-8")
        proc.send_signal(signal.SIGHUP)
        report = await admin.wait_for_event(dm, lambda e: "kohorter" in body(e), timeout=30)
        assert "den gamla gäller fortfarande" in body(report)
        assert "natverk.yaml:" in body(report)
        assert proc.poll() is None  # still running, old configuration in force

        newcomer = make_user("newcomer")
        net.config_path.write_text(good, "utf-8")
        net.data["cohorts"].append(
            {"id": "ny", "name": "Ny", "room": net.alias("ny"), "participants": [newcomer.user_id]}
        )
        net.write()
        proc.send_signal(signal.SIGHUP)
        n = await net.person(newcomer)
        await n.wait_until(lambda: bool(n.invites), timeout=30)
        room = next(iter(n.invites))
        await n.join(room)
        reply = await n.reply_to(room, await n.say(room, "!help"), net.bot.user_id)
        assert "Kommandon" in body(reply)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0  # SIGTERM is a clean stop
