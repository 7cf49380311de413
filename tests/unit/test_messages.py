from __future__ import annotations

from bot import messages
from bot.types import EventID, UserID


def test_notice_always_carries_mentions() -> None:
    content = messages.notice("hej")
    assert content == {"msgtype": "m.notice", "body": "hej", "m.mentions": {}}
    pinged = messages.notice("hej", mentions=[UserID("@b:x"), UserID("@a:x"), UserID("@a:x")])
    assert pinged["m.mentions"] == {"user_ids": ["@a:x", "@b:x"]}


def test_thread_reply_has_the_fallback_for_clients_without_threads() -> None:
    content = messages.notice("svar", thread_root=EventID("$root"), reply_to=EventID("$last"))
    assert content["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$last"},
    }


def test_escape_neutralises_html_and_attributes() -> None:
    nasty = '<script>alert(1)</script><a href="javascript:x">'
    escaped = messages.escape(nasty)
    assert "<" not in escaped and ">" not in escaped and '"' not in escaped


def test_edit_replaces_and_keeps_a_fallback() -> None:
    content = messages.edit(EventID("$e"), messages.notice("ny text"))
    assert content["body"] == "* ny text"
    assert content["m.new_content"]["body"] == "ny text"
    assert content["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$e"}


def test_an_edit_does_not_ping_again() -> None:
    original = messages.notice("svar", mentions=[UserID("@anna:x")])
    content = messages.edit(EventID("$e"), original)
    assert content["m.mentions"] == {}
    assert content["m.new_content"]["m.mentions"] == {"user_ids": ["@anna:x"]}
