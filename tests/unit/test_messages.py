from __future__ import annotations

from typing import Any

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


# --- issue 9: sizes, reply fallbacks, relayed media ------------------------------------------


def test_strip_reply_fallback_removes_only_the_leading_quote_block() -> None:
    from bot.types import strip_reply_fallback

    quoted = "> <@rad1:x> !note internal only\n> second line\n\nThe answer"
    assert strip_reply_fallback(quoted) == "The answer"
    assert strip_reply_fallback("no quote\n> later quote") == "no quote\n> later quote"
    assert strip_reply_fallback("> only a quote") == ""


def test_a_reply_body_is_read_without_its_fallback_but_a_thread_message_keeps_its_text() -> None:
    from bot.types import RoomEvent

    def event(content: dict[str, Any]) -> RoomEvent:
        source = {"type": "m.room.message", "event_id": "$e", "sender": "@a:x", "content": content}
        parsed = RoomEvent.from_source("!r:x", source)
        assert parsed is not None
        return parsed

    reply = event(
        {
            "msgtype": "m.text",
            "body": "> <@rad1:x> !note internal\n\n!ask teknik Hur?",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$n"}},
        }
    )
    assert reply.body == "!ask teknik Hur?"
    plain = event({"msgtype": "m.text", "body": "> a quote I typed\n\nmy text"})
    assert plain.body == "> a quote I typed\n\nmy text"
    in_thread = event(
        {
            "msgtype": "m.text",
            "body": "> a quote I typed\n\nmy text",
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": "$root",
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": "$last"},
            },
        }
    )
    assert in_thread.body == "> a quote I typed\n\nmy text" and in_thread.replies_to is None


def test_fit_shortens_an_oversized_message_to_well_formed_html_within_the_budget() -> None:
    huge = "<b>" + "å" * 60_000
    content = messages.text(huge, html_body=f"<p>{messages.escape(huge)}</p>")
    assert not messages.fits(content)
    fitted = messages.fit(content)
    assert messages.fits(fitted)
    assert fitted["body"].endswith(messages.SHORTENED)
    assert fitted["formatted_body"].startswith("&lt;b&gt;")  # rebuilt from escaped text
    small = messages.notice("hej")
    assert messages.fit(small) is small


def test_fits_edited_counts_the_text_twice() -> None:
    text = "x" * (messages.MAX_CONTENT_BYTES // 2 + 100)
    content = messages.text(text)
    assert messages.fits(content)
    assert not messages.fits_edited(content)


def test_media_copy_relays_the_same_media_with_a_caption_and_safe_info() -> None:
    source = {
        "msgtype": "m.file",
        "body": "answer.pdf",
        "url": "mxc://x/abc",
        "info": {"mimetype": "application/pdf", "size": 1234, "evil": "x" * 100},
    }
    copy = messages.media_copy(source, "Answer from the advisers", thread_root=EventID("$root"))
    assert copy is not None
    assert copy["msgtype"] == "m.file" and copy["url"] == "mxc://x/abc"
    assert copy["filename"] == "answer.pdf" and copy["body"] == "Answer from the advisers"
    assert copy["info"] == {"mimetype": "application/pdf", "size": 1234}
    assert copy["m.relates_to"]["rel_type"] == "m.thread"
    assert messages.media_copy({"msgtype": "m.text", "body": "hi"}, "c") is None
    assert messages.media_copy({"msgtype": "m.image", "body": "no url"}, "c") is None


def test_bounded_lines_stops_at_the_byte_budget_and_says_how_many_more() -> None:
    lines = [f"#{i} · " + "<å>" * 50 for i in range(2_000)]
    shown = messages.bounded_lines(lines, lambda n: f"{n} more")
    assert 1 < len(shown) < len(lines)
    assert shown[-1] == f"{len(lines) - len(shown) + 1} more"
    html = "".join(f"<li>{messages.escape(line)}</li>" for line in shown)
    content = messages.notice("\n".join(["Title", *shown]), html_body=f"<ul>{html}</ul>")
    assert messages.fits(content)
    few = ["a", "b"]
    assert messages.bounded_lines(few, lambda n: "more") == few


def test_fitting_finds_the_longest_listing_that_fits_in_few_renderings() -> None:
    items = [("å" * (50 + 37 * (i % 7))) for i in range(2000)]  # uneven, multi-byte, escaped
    rendered: list[int] = []

    def render(n: int) -> messages.Page:
        rendered.append(n)
        body = "\n".join([*items[:n], f"{len(items) - n} more"])
        html = "<ul>" + "".join(f"<li>{messages.escape(i)}</li>" for i in items[:n]) + "</ul>"
        return messages.Page(body, html, n)

    page = messages.fitting(len(items), render, 20_000)
    fits = messages.fits(messages.notice(page.body, html_body=page.html), 20_000)
    longer = render(page.shown + 1)
    assert fits and not messages.fits(messages.notice(longer.body, html_body=longer.html), 20_000)
    assert 0 < page.shown < len(items)
    assert len(rendered) <= 14  # 1 + log2(2000) + the check above, not one per item


def test_an_events_derived_fields_are_worked_out_once_and_equal_a_fresh_decoding() -> None:
    from bot.types import RoomEvent

    content = {
        "msgtype": "m.text",
        "body": "> <@b:x> citat\n\nsvar",
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": "$root",
            "is_falling_back": False,
            "m.in_reply_to": {"event_id": "$target"},
        },
    }
    source = {"type": "m.room.message", "event_id": "$e", "sender": "@a:x", "content": content}
    event = RoomEvent.from_source("!r:x", source)
    assert event is not None
    assert (event.thread_root, event.replies_to, event.body) == ("$root", "$target", "svar")
    assert {"relates_to", "thread_root", "replies_to", "body"} <= set(vars(event))
    # Kept: a second read returns the same object, not a recomputation.
    assert event.relates_to is event.relates_to
    vars(event)["body"] = "kept"
    assert event.body == "kept"
    again = RoomEvent.from_source("!r:x", source)
    assert again is not None and again == event  # equality is by the decoded fields only
    assert again.is_text_message and not again.is_edit
