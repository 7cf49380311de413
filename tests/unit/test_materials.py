"""The materials catalogue without a homeserver: parsing, folding, storage and search, document
text, rendering and export."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import messages
from bot.cli import export_catalogue
from bot.types import RoomEvent
from commands.materials import export, parse, render
from commands.materials import extract as extract_text
from commands.materials.extract import ExtractionError, Limits, document_kind, extract
from commands.materials.handlers import reply_target
from config import Config, Theme, ThemeEntry
from storage import Database
from storage import materials as store
from storage.materials import NewItem
from tests.documents import make_docx, make_odt, make_pdf

# --- hashtags, links, files ----------------------------------------------------------------------


def test_fold_removes_case_and_diacritics_like_the_index() -> None:
    assert parse.fold("Förskola") == "forskola"
    assert parse.fold("LÄSFÖRSTÅELSE") == "lasforstaelse"
    assert parse.fold("forskola") == "forskola"


def test_hashtags_become_tags_but_not_numbers_aliases_or_url_fragments() -> None:
    body = (
        "Bra om #läsförståelse och #Förskola! Se fråga #12, rummet #npf-ht26:example.org "
        "och https://spsm.se/sida#avsnitt #NPF-stöd."
    )
    assert parse.hashtags(body) == [
        ("lasforstaelse", "läsförståelse"),
        ("forskola", "Förskola"),
        ("npf-stod", "NPF-stöd"),
    ]
    assert parse.hashtags("#a #A #å") == [("a", "a")]


def test_tag_command_words_with_or_without_hash() -> None:
    assert parse.parse_tags("#läsförståelse förskola, #NPF") == [
        ("lasforstaelse", "läsförståelse"),
        ("forskola", "förskola"),
        ("npf", "NPF"),
    ]
    assert parse.parse_tags("#ok <script>") is None
    assert parse.parse_tags("   ") is None
    assert parse.parse_tags("#12") is None


def test_links_are_found_with_the_surrounding_text_as_description() -> None:
    body = (
        "Titta på https://www.spsm.se/stod/lasforstaelse/. Och "
        "(https://sv.wikipedia.org/wiki/Dyslexi_(diagnos)) samt https://spsm.se/stod/lasforstaelse/."
    )
    links = parse.find_links(body)
    assert [link.url for link in links] == [
        "https://www.spsm.se/stod/lasforstaelse/",
        "https://sv.wikipedia.org/wiki/Dyslexi_(diagnos)",
        "https://spsm.se/stod/lasforstaelse/",
    ]
    assert links[0].context == "Titta på. Och samt."
    markdown = parse.find_links("Läs [SPSM:s stöd](https://spsm.se/stod) om #npf")
    assert markdown[0].context == "Läs SPSM:s stöd om #npf"
    assert parse.link_title(links[0].url) == "spsm.se/stod/lasforstaelse"
    assert parse.find_links("ingen länk här, bara ftp://x.se och http://") == ()


def test_quoted_reply_fallback_is_not_indexed() -> None:
    body = "> <@anna:x> se https://gammal.example/\n\nNy länk: https://ny.example/sida"
    assert [link.url for link in parse.find_links(body)] == ["https://ny.example/sida"]


def test_file_message_caption_and_file_name() -> None:
    content = {
        "msgtype": "m.file",
        "body": "Guide för lärare #läsförståelse\nFrån höstens träff",
        "filename": "guide.pdf",
        "url": "mxc://x/abc",
        "info": {"mimetype": "application/pdf", "size": 1234},
    }
    file = parse.file_message(content)
    assert file is not None
    assert (file.kind, file.title, file.filename) == (
        "file",
        "Guide för lärare #läsförståelse",
        "guide.pdf",
    )
    assert file.description == "Från höstens träff"
    assert (file.mimetype, file.size) == ("application/pdf", 1234)
    legacy = parse.file_message({"msgtype": "m.image", "body": "bild.png", "url": "mxc://x/b"})
    assert legacy is not None and (legacy.title, legacy.caption) == ("bild.png", "")
    assert parse.file_message({"msgtype": "m.file", "body": "x", "file": {}}) is None  # malformed
    assert parse.file_message({"msgtype": "m.text", "body": "x", "url": "mxc://x/b"}) is None


def test_search_words_are_folded_and_quoted_so_no_fts_syntax_gets_through() -> None:
    assert parse.query_words('Förskola "OR" läs* NEAR(x)') == ["forskola", "or", "las", "near", "x"]
    expr = store.match_expression(["forskola", 'a"b', "x"], ["npf-ht26"])
    assert expr is not None
    assert '"forskola"*' in expr and '"a b"*' in expr and '"x"' not in expr
    assert store.scope_token("npf-ht26") in expr and "xshared" in expr
    assert store.match_expression([], ["c"]) is None


def test_reply_target_is_the_replied_event_or_the_thread_root() -> None:
    def event(rel: dict[str, object]) -> RoomEvent:
        ev = RoomEvent.from_source(
            "!r:x",
            {
                "event_id": "$me",
                "sender": "@a:x",
                "type": "m.room.message",
                "content": {"msgtype": "m.text", "body": "!tag #a", "m.relates_to": rel},
            },
        )
        assert ev is not None
        return ev

    assert reply_target(event({"m.in_reply_to": {"event_id": "$item"}})) == "$item"
    thread = {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True}
    assert reply_target(event({**thread, "m.in_reply_to": {"event_id": "$last"}})) == "$root"
    thread["is_falling_back"] = False
    assert reply_target(event({**thread, "m.in_reply_to": {"event_id": "$item"}})) == "$item"
    assert reply_target(event({})) is None


# --- storage and search --------------------------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "m.db")
    try:
        yield database
    finally:
        await database.close()


def item(event: str, title: str, cohort: str = "npf", **kw: object) -> NewItem:
    fields: dict[str, object] = {
        "cohort_id": cohort,
        "room_id": f"!{cohort}:x",
        "event_id": event,
        "kind": "file",
        "title": title,
        "uploader": "@anna:x",
        "uploader_name": "Anna",
        "created_at": 1_800_000_000_000 + int(event.strip("$e") or 0),
    }
    fields.update(kw)
    return NewItem(**fields)  # type: ignore[arg-type]


async def add(db: Database, *items: NewItem) -> list[int]:
    ids = []
    async with db.transaction() as tx:
        for new in items:
            assert await store.add(tx, new)
            item_id = await store.id_of(tx, new.event_id, new.part)
            assert item_id is not None
            ids.append(item_id)
    return ids


async def titles(db: Database, query: str, cohorts: list[str]) -> list[str]:
    found = await store.search(db, parse.query_words(query), cohorts, 20)
    return [i.title for i in found]


async def test_search_finds_swedish_words_however_they_are_typed(db: Database) -> None:
    await add(
        db,
        item("$e1", "Språkutveckling i förskolan", tags=(("lasforstaelse", "läsförståelse"),)),
        item("$e2", "Matematik", content="Ett kapitel om FÖRSKOLA och skola."),
        item("$e3", "Helt annat"),
    )
    for query in ("förskola", "Förskola", "forskola", "FORSKOL", "försk"):
        assert await titles(db, query, ["npf"]) == ["Språkutveckling i förskolan", "Matematik"]
    assert await titles(db, "lasforstaelse", ["npf"]) == ["Språkutveckling i förskolan"]
    assert await titles(db, "förskola matematik", ["npf"]) == ["Matematik"]
    found = await store.search(db, ["skola"], ["npf"], 5)
    assert parse.SNIPPET_START in found[0].snippet


async def test_a_cohort_sees_only_its_own_items_unless_shared(db: Database) -> None:
    ids = await add(db, item("$e1", "Förskola A", "npf"), item("$e2", "Förskola B", "las"))
    assert await titles(db, "förskola", ["npf"]) == ["Förskola A"]
    assert await titles(db, "förskola", ["las"]) == ["Förskola B"]
    assert await titles(db, "förskola", []) == []
    # A whole cohort shared (share_materials) is simply one more visible cohort.
    assert sorted(await titles(db, "förskola", ["las", "npf"])) == ["Förskola A", "Förskola B"]
    # One item shared with the network.
    async with db.transaction() as tx:
        await store.update(tx, ids[0], shared=True)
    assert sorted(await titles(db, "förskola", ["las"])) == ["Förskola A", "Förskola B"]
    listed = await store.listing(db, ["las"], 10)
    assert sorted(i.title for i in listed) == ["Förskola A", "Förskola B"]
    async with db.transaction() as tx:
        await store.update(tx, ids[0], shared=False)
    assert await titles(db, "förskola", ["las"]) == ["Förskola B"]


async def test_title_matches_rank_above_document_text(db: Database) -> None:
    await add(
        db,
        item("$e1", "Protokoll", content="dyslexi " * 3 + "övrigt " * 200),
        item("$e2", "Dyslexi och skrivande"),
        item("$e3", "Annat", description="Om dyslexi i skolan"),
    )
    assert await titles(db, "dyslexi", ["npf"]) == [
        "Dyslexi och skrivande",
        "Annat",
        "Protokoll",
    ]


async def test_listings_recent_tag_mine_and_paging(db: Database) -> None:
    news = [
        item(f"$e{n}", f"Material {n}", uploader="@bertil:x" if n % 2 else "@anna:x")
        for n in range(1, 8)
    ]
    ids = await add(db, *news)
    async with db.transaction() as tx:
        await store.add_tags(tx, ids[0], [("forskola", "förskola")])
        await store.add_tags(tx, ids[3], [("forskola", "Förskola"), ("npf", "NPF")])
    recent = await store.listing(db, ["npf"], 3)
    assert [i.title for i in recent] == ["Material 7", "Material 6", "Material 5"]
    page2 = await store.listing(db, ["npf"], 3, 3)
    assert [i.title for i in page2] == ["Material 4", "Material 3", "Material 2"]
    tagged = await store.listing(db, ["npf"], 10, tags=["forskola"])
    assert [i.title for i in tagged] == ["Material 4", "Material 1"]
    assert tagged[0].tags == ("Förskola", "NPF")
    both = await store.listing(db, ["npf"], 10, tags=["forskola", "npf"])
    assert [i.title for i in both] == ["Material 4"]
    mine = await store.listing(db, ["npf"], 10, uploader="@bertil:x")
    assert [i.title for i in mine] == ["Material 7", "Material 5", "Material 3", "Material 1"]


async def test_hashtag_edits_keep_tags_added_by_hand(db: Database) -> None:
    (item_id,) = await add(db, item("$e1", "X", tags=(("gammal", "gammal"),)))
    async with db.transaction() as tx:
        await store.add_tags(tx, item_id, [("manuell", "manuell")])
        await store.set_hashtags(tx, item_id, [("ny", "ny")])
    got = await store.get(db, item_id)
    assert got is not None and got.tags == ("manuell", "ny")
    assert await titles(db, "gammal", ["npf"]) == []
    assert await titles(db, "manuell", ["npf"]) == ["X"]


async def test_document_text_is_stored_once_and_only_for_the_same_file(db: Database) -> None:
    (item_id,) = await add(db, item("$e1", "Rapport", mxc="mxc://x/1", text_state="pending"))
    async with db.transaction() as tx:
        pending = await store.pending_text(tx, 10)
        assert [p.id for p in pending] == [item_id]
        assert not await store.set_text(tx, item_id, "mxc://x/other", "fel fil")
        assert await store.set_text(tx, item_id, "mxc://x/1", "Innehåll om elevhälsa")
        assert not await store.skip_text(tx, item_id, "mxc://x/1", "too late")
        assert await store.pending_text(tx, 10) == []
    assert await titles(db, "elevhälsa", ["npf"]) == ["Rapport"]


async def test_redaction_removes_every_item_of_the_event(db: Database) -> None:
    await add(
        db,
        item("$e1", "a", kind="link", part="https://a.example", url="https://a.example"),
        item("$e1", "b", kind="link", part="https://b.example", url="https://b.example"),
        item("$e2", "c"),
    )
    async with db.transaction() as tx:
        assert not await store.add(tx, item("$e2", "c again"))  # a repeated event
        assert await store.delete_event(tx, "!npf:x", "$e1") == 2
    assert [i.title for i in await store.listing(db, ["npf"], 10)] == ["c"]
    row = await db.fetchone("SELECT COUNT(*) AS n FROM materials_fts")
    assert row is not None and row["n"] == 1


async def test_remembered_listing_per_person_and_room(db: Database) -> None:
    async with db.transaction() as tx:
        await store.remember(tx, "@a:x", "!r:x", store.Listing("search", "förskola", 5))
        await store.remember(tx, "@a:x", "!r:x", store.Listing("tag", "#npf", 10))
    assert await store.last_listing(db, "@a:x", "!r:x") == store.Listing("tag", "#npf", 10)
    assert await store.last_listing(db, "@a:x", "!other:x") is None


async def test_a_persons_materials_can_be_exported_and_erased(db: Database) -> None:
    await add(db, item("$e1", "Annas fil"), item("$e2", "Bertils fil", uploader="@bertil:x"))
    async with db.transaction() as tx:
        await store.remember(tx, "@anna:x", "!r:x", store.Listing("search", "fil", 5))
    data = await store.export_user(db, "@anna:x")
    assert [m["title"] for m in data["materials"]] == ["Annas fil"]
    assert data["material_queries"] == [{"room_id": "!r:x", "mode": "search", "query": "fil"}]
    async with db.transaction() as tx:
        assert await store.erase_user(tx, "@anna:x") == 1
    assert await titles(db, "fil", ["npf"]) == ["Bertils fil"]
    assert await store.last_listing(db, "@anna:x", "!r:x") is None


# --- document text -------------------------------------------------------------------------------


def test_document_kinds_by_mimetype_or_file_name() -> None:
    assert document_kind("application/pdf", None) == "pdf"
    assert document_kind("application/octet-stream", "Rapport.DOCX") == "docx"
    assert document_kind(None, "anteckningar.md") == "text"
    assert document_kind("text/plain; charset=utf-8", "x") == "text"
    assert document_kind("application/vnd.oasis.opendocument.text", "x") == "odt"
    assert document_kind("image/png", "bild.png") is None


def test_text_of_pdf_docx_odt_and_plain_text() -> None:
    sentence = "Läsförståelse i förskolan börjar med samtal."
    assert sentence in extract(make_pdf("Rubrik", sentence), "pdf")
    assert sentence in extract(make_docx("Rubrik", sentence), "docx")
    assert sentence in extract(make_odt("Rubrik", sentence), "odt")
    assert extract(sentence.encode("utf-8"), "text") == sentence
    assert extract(sentence.encode("cp1252"), "text") == sentence


def test_malformed_documents_are_refused_with_a_reason() -> None:
    with pytest.raises(ExtractionError, match="unreadable PDF"):
        extract(b"%PDF-1.4\nnot really", "pdf")
    with pytest.raises(ExtractionError, match="not a valid document archive"):
        extract(b"PK\x03\x04 broken", "docx")
    with pytest.raises(ExtractionError, match="binary"):
        extract(b"\x00\x01\x02", "text")


def test_limits_on_size_unpacked_size_text_and_time() -> None:
    big = Limits(max_download=100)
    with pytest.raises(ExtractionError, match="larger than 100 bytes"):
        extract(b"x" * 101, "text", big)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\x00" * 5_000_000)
    with pytest.raises(ExtractionError, match="unpacks to"):
        extract(bomb.getvalue(), "docx", Limits(max_unpacked=1_000_000))
    cut = extract(("ord " * 1000).encode(), "text", Limits(max_text=100))
    assert len(cut) == 100
    with pytest.raises(ExtractionError, match="took too long"):
        extract(make_pdf("a", "b"), "pdf", Limits(timeout=-1))


async def test_extraction_runs_in_a_thread_with_a_time_limit() -> None:
    assert "hej" in await extract_text.extract_async(make_pdf("hej"), "pdf")
    with pytest.raises(ExtractionError, match="took too long"):
        await extract_text.extract_async(b"text", "text", Limits(timeout=-2))


# --- rendering and export ------------------------------------------------------------------------


def stored(n: int, title: str, **kw: object) -> store.Item:
    fields: dict[str, object] = {
        "id": n,
        "cohort_id": "npf",
        "room_id": "!npf:x",
        "event_id": f"$e{n}",
        "part": "",
        "kind": "file",
        "title": title,
        "filename": None,
        "description": "",
        "described": False,
        "url": None,
        "mxc": None,
        "mimetype": None,
        "size": None,
        "uploader": "@anna:x",
        "uploader_name": "Anna",
        "created_at": 1_800_000_000_000,
        "shared": False,
        "text_state": "none",
        "text_reason": None,
    }
    fields.update(kw)
    return store.Item(**fields)  # type: ignore[arg-type]


def test_listing_shows_title_who_when_tags_and_permalink_with_user_text_escaped() -> None:
    evil = stored(
        1,
        "<b>Guide</b>",
        filename="guide.pdf",
        tags=("läs<förståelse>",),
        snippet="… om \x02förskola\x03 & <i>lek</i>",
    )
    link = stored(2, "spsm.se/stod", kind="link", url="https://spsm.se/stod?a=1&b=2")
    shown = [
        render.shown(evil, "Anna <3", "Europe/Stockholm", "sv"),
        render.shown(link, "B", "UTC", "sv"),
    ]
    page = render.render_page("sv", "Träffar:", shown, 1, "Fler: !material mer")
    body, html = page.body, page.html
    assert page.shown == 2 and body.endswith("Fler: !material mer")
    assert "1. <b>Guide</b> (guide.pdf) — Anna <3 · 2027-01-15 · #läs<förståelse>" in body
    assert "https://matrix.to/#/!npf:x/$e1" in body
    assert "… om förskola & <i>lek</i>" in body
    assert "2. spsm.se/stod" in body and "https://spsm.se/stod?a=1&b=2 · ursprungligt" in body
    assert "<b>Guide</b>" not in html and "&lt;b&gt;Guide&lt;/b&gt;" in html
    assert "Anna &lt;3" in html and "<b>förskola</b> &amp; &lt;i&gt;lek" in html
    assert 'href="https://spsm.se/stod?a=1&amp;b=2"' in html
    assert html.startswith('<p>Träffar:</p><ol start="1">')


def test_permalink_is_a_matrix_to_link() -> None:
    assert parse.permalink("!abc:x.se", "$Ev-1_2") == "https://matrix.to/#/!abc:x.se/$Ev-1_2"


THEME = Theme(
    id="lasforstaelse",
    name="Läsförståelse",
    tags=["läsning"],
    entries=[
        ThemeEntry(
            title="Läsförståelse <intro>",
            url="https://www.spsm.se/lasforstaelse",
            description="SPSM:s introduktion",
        )
    ],
)


def test_theme_shows_entries_and_items_with_its_tags() -> None:
    assert render.theme_keys(THEME) == ["lasforstaelse", "lasning"]
    assert render.find_themes([THEME], "läsförst") == [THEME]
    assert render.find_themes([THEME], "#LASFORSTAELSE") == [THEME]
    assert render.find_themes([THEME], "matte") == []
    page = render.render_theme("en", THEME, [], "")
    body, html = page.body, page.html
    assert "Theme: Läsförståelse" in body and "https://www.spsm.se/lasforstaelse" in body
    assert "&lt;intro&gt;" in html and "Nothing shared in the group is tagged" in body


def catalogue(items: list[store.Item], lang: str = "sv") -> export.Catalogue:
    return export.Catalogue(
        lang=lang,
        heading="Materialkatalog: <NPF>",
        timezone="Europe/Stockholm",
        themes=[export.ExportTheme(THEME, None)],
        items=items,
        cohort_names={"npf": "NPF"},
        exported_at="2027-01-15 10:00",
    )


EXPORT_ITEMS = [
    stored(1, "Läsguide <script>alert(1)</script>", tags=("Läsförståelse", "npf")),
    stored(2, '=HYPERLINK("x")', description="Formel"),
    stored(3, "Länk", kind="link", url="https://spsm.se/a", tags=("npf",)),
]


def test_html_export_is_a_page_grouped_by_theme_and_tag_with_everything_escaped() -> None:
    page = export.export(catalogue(EXPORT_ITEMS), "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>Materialkatalog: &lt;NPF&gt;</title>" in page
    themes, tags = page.index("<h2>Teman</h2>"), page.index("<h2>Efter tagg</h2>")
    untagged = page.index("<h2>Utan tagg</h2>")
    assert themes < tags < untagged
    assert page.index("Läsguide", themes) < tags  # in its theme through #Läsförståelse
    assert page.count("Läsguide") == 3  # theme, #Läsförståelse, #npf
    assert 'href="https://spsm.se/a"' in page
    assert "=HYPERLINK" in page[untagged:]


def test_markdown_export_escapes_markup() -> None:
    md = export.export(catalogue(EXPORT_ITEMS), "md")
    assert md.startswith("# Materialkatalog: \\<NPF\\>")
    assert "## Teman" in md and "### Läsförståelse" in md and "### \\#npf" in md
    assert (
        "[Läsguide \\<script\\>alert\\(1\\)\\</script\\>](<https://matrix.to/#/!npf:x/$e1>)" in md
    )
    assert "- [Läsförståelse \\<intro\\>](<https://www.spsm.se/lasforstaelse>)" in md


def test_csv_export_is_one_row_per_item_and_never_a_formula() -> None:
    rows = list(csv.reader(io.StringIO(export.export(catalogue(EXPORT_ITEMS), "csv"))))
    assert rows[0] == list(export.CSV_COLUMNS)
    assert len(rows) == 4
    assert rows[2][3] == '\'=HYPERLINK("x")'
    assert rows[1][6] == "#Läsförståelse #npf"
    assert rows[3][12] == "https://spsm.se/a"


async def test_export_of_a_cohort_shows_what_its_members_see(tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "homeserver": "http://127.0.0.1:1",
            "bot": {"user_id": "@bot:x", "database": str(tmp_path / "e.db")},
            "advisers": {"room": "#adv:x", "members": []},
            "themes": [THEME.model_dump()],
            "cohorts": [
                {"id": "npf", "name": "NPF", "room": "#npf:x"},
                {"id": "las", "name": "Läs", "room": "#las:x", "share_materials": True},
                {"id": "tyst", "name": "Tyst", "room": "#tyst:x"},
            ],
        }
    )
    database = await Database.open(tmp_path / "e.db")
    try:
        await add(
            database,
            item("$e1", "Eget material", "npf"),
            item("$e2", "Delat av Läs", "las"),
            item("$e3", "Hemligt", "tyst"),
        )
    finally:
        await database.close()
    md = await export_catalogue(config, "md", "npf")
    assert "Eget material" in md and "Delat av Läs" in md and "Hemligt" not in md
    everything = await export_catalogue(config, "html")
    assert all(t in everything for t in ("Eget material", "Delat av Läs", "Hemligt"))
    assert "hela nätverket" in everything


# --- bounds: tags per item, and every listing within one message's size ------------------------


HOSTILE = "Massor " + " ".join(f"#t{n}" for n in range(1000, 9000))  # 8,000 hashtags, 56 kB


def test_a_message_keeps_at_most_twenty_tags_of_at_most_forty_characters() -> None:
    assert (store.MAX_TAGS, store.TAG_MAX) == (20, 40)
    tags = parse.hashtags(HOSTILE)
    assert [t for _, t in tags] == [f"t{n}" for n in range(1000, 1020)]
    (long,) = parse.hashtags("#" + "å" * 300)
    assert long == ("a" * 40, "å" * 40)
    assert len(parse.parse_tags("x" * 300) or []) == 1
    assert (parse.parse_tags("x" * 300) or [])[0][1] == "x" * 40


async def test_stored_tags_are_bounded_and_tags_added_by_hand_are_kept_first(db: Database) -> None:
    many = tuple((f"t{n}", f"t{n}") for n in range(8000))
    (item_id,) = await add(db, item("$e1", "Massor", tags=many))
    got = await store.get(db, item_id)
    assert got is not None and got.tags == tuple(sorted(f"t{n}" for n in range(20)))
    async with db.transaction() as tx:
        await store.add_tags(tx, item_id, [("npf", "NPF")])
        await store.set_hashtags(tx, item_id, many)
    got = await store.get(db, item_id)
    assert got is not None and len(got.tags) == 20 and "NPF" in got.tags
    assert "t19" not in got.tags  # the hand-added tag took the last place


def big_item(number: int) -> render.Shown:
    """An item as long as the bounds let it be (user text everywhere, much of it escaped)."""
    item = stored(
        number,
        "&" * 5000,
        filename="<" * 5000,
        description="&" * 5000,
        tags=tuple("&" * 40 + str(n) for n in range(50)),
        snippet="\x02" + "&" * 5000 + "\x03",
        kind="link",
        url="https://example.org/" + "&" * 5000,
    )
    return render.shown(item, "<" * 5000, "UTC", "en")


def test_a_listing_is_bounded_by_size_and_says_how_many_more_there_are() -> None:
    items = [big_item(n) for n in range(1, 11)]
    assert len(items[0].tags) == 20 and len(items[0].title) == parse.TITLE_MAX
    page = render.render_page("en", lambda n: f"Found ({n}):", items, 1, "More: !materials more")
    assert 0 < page.shown < len(items)
    content = messages.notice(page.body, html_body=page.html)
    assert messages.size(content) <= messages.LISTING_BYTES
    # One more item would not have fitted: it stops at the budget, not before.
    fuller = render.render_page("en", "Found:", items[: page.shown + 1], 1, "", budget=10**9)
    assert not messages.fits(
        messages.notice(fuller.body, html_body=fuller.html), messages.LISTING_BYTES
    )
    left = len(items) - page.shown
    assert page.body.startswith(f"Found ({page.shown}):")
    assert page.body.endswith(f"… and {left} more (they do not fit in one message).")
    assert page.html.count("<li>") == page.shown and page.html.endswith("message).</p>")
    sv = render.render_page("sv", "Träffar:", items, 1)
    assert sv.body.endswith(f"… och {len(items) - sv.shown} till (de ryms inte i ett meddelande).")
    # A small budget still gives a well-formed message with only the heading and that line.
    tiny = render.render_page("en", "Found:", items, 1, budget=500)
    assert (
        tiny.shown == 0 and tiny.body == "Found:\n… and 10 more (they do not fit in one message)."
    )
    assert "<ol" not in tiny.html


def test_themes_and_the_theme_list_are_bounded_by_size_too() -> None:
    entries = [
        ThemeEntry(
            title="<" * 2000, url="https://example.org/" + "&" * 2000, description="&" * 2000
        )
        for _ in range(30)
    ]
    theme = Theme(id="stor", name="Stor", tags=[], entries=entries)
    page = render.render_theme("sv", theme, [big_item(1)], "Fler: !material tagg #stor")
    assert messages.fits(messages.notice(page.body, html_body=page.html), messages.LISTING_BYTES)
    assert 0 < page.shown < 31
    assert f"… och {31 - page.shown} till" in page.body
    assert page.body.endswith("Fler: !material tagg #stor")
    themes = [Theme(id=f"t{n}", name="&" * 1000, tags=[], entries=[]) for n in range(100)]
    listed = render.render_theme_list("en", themes, "!materials theme")
    assert messages.fits(
        messages.notice(listed.body, html_body=listed.html), messages.LISTING_BYTES
    )
    assert 0 < listed.shown < 100 and f"… and {100 - listed.shown} more" in listed.body
    assert listed.body.endswith("Show one: !materials theme name")
