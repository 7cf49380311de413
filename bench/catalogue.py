"""The materials catalogue at scale: index 100,000 items through storage.materials (items,
tags, FTS5 row; 500 items per transaction, like a large sync batch) and run 1,000 searches as
the bot does (folded words as prefixes, within one cohort and the shared items, bm25 ranking).

Baselines, measured in the same run on the same rows: plain INSERTs into a table without a
full-text index, and for search an unranked LIKE scan over the same text (and FTS5 without
ranking)."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import tempfile
import time
from pathlib import Path

from bench.stats import pct
from commands.materials.parse import fold, query_words
from storage import Database
from storage import materials as store
from storage.materials import NewItem

SYLLABLES = (
    "för",
    "skol",
    "läs",
    "stöd",
    "elev",
    "lär",
    "sam",
    "tal",
    "bild",
    "språk",
    "mat",
    "te",
    "ma",
    "tik",
    "upp",
    "gift",
    "kun",
    "skap",
    "vänd",
    "ning",
    "strat",
    "egi",
    "ut",
    "veck",
    "ling",
    "an",
    "pass",
    "struk",
    "tur",
    "hjälp",
    "me",
    "del",
    "rum",
    "ö",
    "ver",
    "sikt",
    "å",
    "tan",
    "kar",
    "lek",
    "barn",
    "grupp",
    "arbe",
    "norm",
    "kri",
    "tisk",
    "fri",
    "hets",
    "kän",
    "slo",
    "rör",
    "else",
    "rät",
    "tig",
    "het",
)
COHORTS = [f"kohort-{n}" for n in range(20)]
KINDS = ("file", "link", "image", "file", "file")


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    ordered = sorted(words)
    rng.shuffle(ordered)  # the Zipf rank of a word has nothing to do with its spelling
    return ordered


class Zipf:
    """Words drawn as in natural text: a few common, most rare."""

    def __init__(self, words: list[str], rng: random.Random) -> None:
        self.words = words
        self.rng = rng
        weights = [1 / (rank + 1) for rank in range(len(words))]
        self.cumulative = list(itertools.accumulate(weights))

    def draw(self, n: int, skip: int = 0) -> list[str]:
        """``n`` words; ``skip`` leaves out the most common ones (words like 'och', 'att')."""
        low, top = self.cumulative[skip - 1] if skip else 0.0, self.cumulative[-1]
        picks = (
            bisect.bisect(self.cumulative, low + self.rng.random() * (top - low)) for _ in range(n)
        )
        return [self.words[min(i, len(self.words) - 1)] for i in picks]


def make_items(count: int, rng: random.Random, zipf: Zipf) -> list[NewItem]:
    items = []
    for n in range(count):
        title = " ".join(zipf.draw(rng.randint(3, 7))).capitalize()
        tags = tuple((fold(t), t) for t in dict.fromkeys(zipf.draw(rng.randint(0, 3))))
        content = " ".join(zipf.draw(rng.randint(150, 300))) if n % 10 == 0 else ""
        kind = KINDS[n % len(KINDS)]
        items.append(
            NewItem(
                cohort_id=COHORTS[n % len(COHORTS)],
                room_id=f"!{COHORTS[n % len(COHORTS)]}:bench",
                event_id=f"$bench{n}",
                kind=kind,
                title=title,
                filename=f"fil{n}.pdf" if kind == "file" else None,
                description=" ".join(zipf.draw(rng.randint(5, 25))),
                url=f"https://example.org/{n}" if kind == "link" else None,
                uploader=f"@p{n % 300}:bench",
                uploader_name=f"Person {n % 300}",
                created_at=1_800_000_000_000 + n * 1000,
                content=content,
                tags=tags,
                text_state="done" if content else "none",
            )
        )
    return items


async def index(db: Database, items: list[NewItem], batch: int) -> float:
    start = time.perf_counter()
    for first in range(0, len(items), batch):
        async with db.transaction() as tx:
            for item in items[first : first + batch]:
                await store.add(tx, item)
    return time.perf_counter() - start


async def index_plain(db: Database, items: list[NewItem], batch: int) -> float:
    async with db.transaction() as tx:
        await tx.execute(
            "CREATE TABLE plain (id INTEGER PRIMARY KEY, cohort_id TEXT, event_id TEXT,"
            " title TEXT, description TEXT, tags TEXT, content TEXT, created_at INTEGER)"
        )
    start = time.perf_counter()
    for first in range(0, len(items), batch):
        async with db.transaction() as tx:
            for i in items[first : first + batch]:
                await tx.execute(
                    "INSERT INTO plain (cohort_id, event_id, title, description, tags, content,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        i.cohort_id,
                        i.event_id,
                        i.title,
                        i.description,
                        " ".join(t for _, t in i.tags),
                        i.content,
                        i.created_at,
                    ),
                )
    return time.perf_counter() - start


FUNCTION_WORDS = 50  # the most common words of the text, which nobody searches for


def queries(
    rng: random.Random, zipf: Zipf, count: int, common: bool = False
) -> list[tuple[str, list[str]]]:
    """(typed query, visible cohorts): words as frequent in queries as in the text, leaving out
    the function words; ``common`` draws only the 10 most common words (a stress test).
    Half the words are typed without å, ä, ö; 30% of queries end in half a word."""
    out = []
    for _ in range(count):
        n = rng.choice((1, 1, 2, 2, 3))
        words = (
            [rng.choice(zipf.words[:10]) for _ in range(n)]
            if common
            else zipf.draw(n, FUNCTION_WORDS)
        )
        typed = " ".join(fold(w) if rng.random() < 0.5 else w.capitalize() for w in words)
        if rng.random() < 0.3:  # a prefix, as people type half a word
            typed = typed[: max(3, len(typed) - 2)]
        out.append((typed, [rng.choice(COHORTS)]))
    return out


async def timed(calls: list[tuple[str, list[str]]], run: object) -> tuple[list[float], int]:
    ms: list[float] = []
    hits = 0
    for typed, cohorts in calls:
        start = time.perf_counter()
        found = await run(typed, cohorts)  # type: ignore[operator]
        ms.append((time.perf_counter() - start) * 1000)
        hits += bool(found)
    return ms, hits


async def run(count: int, searches: int, batch: int = 500) -> None:
    rng = random.Random(20261123)
    zipf = Zipf(vocabulary(rng), rng)
    items = make_items(count, rng, zipf)
    calls = queries(rng, zipf, searches)
    stress = queries(rng, zipf, searches // 5, common=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.db")
        try:
            plain_s = await index_plain(db, items, batch)
            fts_s = await index(db, items, batch)

            async def natverk(typed: str, cohorts: list[str]) -> list[store.Item]:
                return await store.search(db, query_words(typed), cohorts, 6)

            async def like_scan(typed: str, cohorts: list[str]) -> list[object]:
                words = query_words(typed) or [""]
                where = " AND ".join(
                    "(title LIKE ? OR description LIKE ? OR tags LIKE ? OR content LIKE ?)"
                    for _ in words
                )
                params = [p for w in words for p in [f"%{w}%"] * 4]
                return list(
                    await db.fetchall(
                        f"SELECT id FROM plain WHERE cohort_id = ? AND {where} LIMIT 6",
                        [cohorts[0], *params],
                    )
                )

            async def fts_unranked(typed: str, cohorts: list[str]) -> list[object]:
                expression = store.match_expression(query_words(typed), cohorts)
                return list(
                    await db.fetchall(
                        "SELECT rowid FROM materials_fts WHERE materials_fts MATCH ? LIMIT 6",
                        (expression,),
                    )
                )

            await timed(calls[:50], natverk)  # warm the page cache for both
            await timed(calls[:50], like_scan)
            ours, hits = await timed(calls, natverk)
            base, _ = await timed(calls, like_scan)
            unranked, _ = await timed(calls, fts_unranked)
            worst, _ = await timed(stress, natverk)
            worst_base, _ = await timed(stress, like_scan)
        finally:
            await db.close()

    print(f"\n== materials catalogue: {count} items, {searches} searches ==")
    print(f"baseline plain INSERTs (no FTS)     {count / plain_s:9.0f} items/s  ({plain_s:.1f} s)")
    print(f"natverk index (items, tags, FTS5)   {count / fts_s:9.0f} items/s  ({fts_s:.1f} s)")
    print(f"ratio natverk/baseline throughput   {plain_s / fts_s:9.2f}")
    print(f"natverk search (bm25, prefix)       {_pcts(ours)}  ({hits}/{searches} found something)")
    print(f"baseline LIKE scan (unranked)       {_pcts(base)}")
    print(f"FTS5 without ranking                {_pcts(unranked)}")
    print(
        f"ratio natverk/LIKE latency          p50 {pct(ours, 50) / pct(base, 50):6.3f}"
        f"     p95 {pct(ours, 95) / pct(base, 95):6.3f}"
    )
    print(
        f"stress: the 10 most common words    {_pcts(worst)}"
        f"  (LIKE p95 {pct(worst_base, 95):.2f} ms, {len(stress)} searches)"
    )
    print(
        f"targets: index {count} < 30 s: {'yes' if fts_s < 30 else 'NO'};"
        f" search p95 < 10 ms: {'yes' if pct(ours, 95) < 10 else 'NO'}"
    )


def _pcts(ms: list[float]) -> str:
    return f"p50 {pct(ms, 50):6.2f} ms  p95 {pct(ms, 95):6.2f} ms"


def main(items: int = 100_000, searches: int = 1_000) -> None:
    asyncio.run(run(items, searches))


if __name__ == "__main__":
    main()
