"""What other features may ask of the catalogue (they never import its handlers)."""

from __future__ import annotations

from dataclasses import dataclass

from bot import clock, messages
from commands.materials import parse
from storage import Tx
from storage import materials as store
from storage.materials import NewItem


@dataclass(frozen=True)
class PublishedAnswer:
    """A question published by an adviser (``!publish``): it links to the question's thread in
    the cohort room, where the answer is."""

    cohort_id: str
    room_id: str
    event_id: str  # the question: the thread root in the cohort room
    question: str
    category_name: str
    publisher: str
    publisher_name: str


async def add_published_answer(tx: Tx, answer: PublishedAnswer) -> bool:
    """A question-and-answer entry in the cohort's catalogue: the question is its title and
    text, its category the description. False if it is recorded already."""
    first_line = answer.question.strip().split("\n", 1)[0]
    return await store.add(
        tx,
        NewItem(
            cohort_id=answer.cohort_id,
            room_id=answer.room_id,
            event_id=answer.event_id,
            part="answer",
            kind="answer",
            title=messages.short(first_line, parse.TITLE_MAX),
            description=answer.category_name,
            uploader=answer.publisher,
            uploader_name=answer.publisher_name,
            created_at=clock.now_ms(),
            content=answer.question,
            tags=tuple(parse.hashtags(answer.question)),
        ),
    )
