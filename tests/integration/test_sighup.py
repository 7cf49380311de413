"""An admin edits the YAML and sends SIGHUP to the running `natverk run` process."""

from __future__ import annotations

import signal
from typing import Any

from bot.demo.homeserver import terminate
from tests.integration.helpers import body, start_natverk


async def test_sighup_reloads_and_an_invalid_file_is_reported_to_admins(
    network: Any, make_user: Any
) -> None:
    net = network(participants=1)
    proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
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
        terminate(proc, grace=15)
    assert proc.returncode == 0  # SIGTERM is a clean stop
