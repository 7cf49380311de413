"""What the catalogue reads from messages: folding, hashtags, links, file events, query
words, the bounds of what an item keeps. Pure; tested as is."""

from __future__ import annotations

import base64
import binascii
import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from bot import messages
from storage.materials import MAX_TAGS, TAG_MAX, FileKey

FILE_MSGTYPES = {"m.file": "file", "m.image": "image", "m.video": "video", "m.audio": "audio"}
# What an item keeps of the text it was made from (a message may hold 64 KiB of it), and what a
# listing shows of it. Tags: MAX_TAGS per item, TAG_MAX characters each (storage.materials).
TITLE_MAX = 200
DESCRIPTION_MAX = 1000
FILENAME_MAX = 255
MIMETYPE_MAX = 100
URL_MAX = 2000
NAME_SHOWN = 100  # who shared an item
DESCRIPTION_SHOWN = 300
SNIPPET_SHOWN = 240
QUERY_SHOWN = 100  # a person's search words or theme name, repeated in an answer
SNIPPET_START, SNIPPET_END = "\x02", "\x03"

# A hashtag: '#' not glued to a word, a URL fragment or an entity, then a letter or digit and
# more of them (with - and _). A room alias (#room:server) is not a tag.
_HASHTAG = re.compile(r"(?<![\w#/&])#(\w[\w-]*)(?![\w-]*:\w)")
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*_~"
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case without diacritics, as FTS5's ``unicode61 remove_diacritics 2`` sees it:
    ``Förskola`` -> ``forskola``, ``Läsförståelse`` -> ``lasforstaelse``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _tag(word: str) -> tuple[str, str] | None:
    tag = word.strip("-_")[:TAG_MAX]
    if not tag or not any(c.isalpha() for c in tag):
        return None  # '#12' is a question number, not a tag
    return fold(tag), tag


def hashtags(text: str) -> list[tuple[str, str]]:
    """The hashtags in ``text`` as (folded, as written), each once, in order: the first
    MAX_TAGS of them, each cut to TAG_MAX characters (a message may hold thousands)."""
    found: dict[str, str] = {}
    for match in _HASHTAG.finditer(text):
        tag = _tag(match[1])
        if tag is not None:
            found.setdefault(*tag)
            if len(found) >= MAX_TAGS:
                break
    return list(found.items())


def parse_tags(text: str) -> list[tuple[str, str]] | None:
    """The tags of ``!tag #a #b`` (the '#' is optional); None if a word is not a tag."""
    found: dict[str, str] = {}
    for word in re.split(r"[\s,]+", text.strip()):
        if not word:
            continue
        body = word.removeprefix("#")
        tag = _tag(body) if re.fullmatch(r"[\w-]+", body) else None
        if tag is None:
            return None
        found.setdefault(*tag)
    return list(found.items()) or None


def strip_reply_fallback(body: str) -> str:
    """A message body without the quoted lines of an old-style reply fallback."""
    lines = body.split("\n")
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).strip()


@dataclass(frozen=True)
class Link:
    url: str
    context: str  # the message around the link, as its description


def _trim_url(url: str) -> str:
    while url:
        if url[-1] in _TRAILING:
            url = url[:-1]
        elif url[-1] in ")]}":
            opening = {")": "(", "]": "[", "}": "{"}[url[-1]]
            if url.count(url[-1]) > url.count(opening):
                url = url[:-1]
            else:
                break
        else:
            break
    return url


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return (
            parts.scheme.lower() in ("http", "https")
            and bool(parts.hostname)
            and len(url) <= URL_MAX
        )
    except ValueError:
        return False


@functools.lru_cache(maxsize=64)
def find_links(body: str) -> tuple[Link, ...]:
    """Every http(s) link in a message, each once, with the rest of the text as context.

    Kept for the last few bodies: the catalogue and the measures read the links of the same
    message one after the other."""
    text = strip_reply_fallback(body)
    urls: list[str] = []
    pieces: list[str] = []
    end = 0
    for match in _URL.finditer(text):
        url = _trim_url(match[0])
        pieces.append(text[end : match.start()])
        end = match.start() + len(url)
        if _valid_url(url) and url not in urls:
            urls.append(url)
    if not urls:
        return ()
    context = "".join([*pieces, text[end:]])
    context = re.sub(r"\[([^\]]*)\]\(\s*\)", r"\1", context)  # what is left of [text](url)
    context = re.sub(r"\(\s*\)|\[\s*\]|<\s*>", " ", context)
    context = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(context.split()))
    context = messages.short(context.strip(" :-–—"), DESCRIPTION_MAX)
    return tuple(Link(url, context) for url in urls)


def link_title(url: str) -> str:
    """A readable title for a link: host and path, without the scheme and 'www.'."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    path = parts.path.rstrip("/")
    return messages.short(f"{host}{path}" or url, TITLE_MAX)


@dataclass(frozen=True)
class FileMessage:
    kind: str
    mxc: str
    filename: str
    caption: str
    mimetype: str | None
    size: int | None
    key: FileKey | None = None  # an encrypted file's (its ``file`` object instead of ``url``)

    @property
    def title(self) -> str:
        """The caption's first line if there is a caption, else the file name."""
        if self.caption:
            first = self.caption.strip().split("\n", 1)[0]
            return messages.short(first, TITLE_MAX) or messages.short(self.filename, TITLE_MAX)
        return messages.short(self.filename, TITLE_MAX)

    @property
    def description(self) -> str:
        """The caption's further lines, if it has several."""
        rest = self.caption.strip().split("\n", 1)[1:] if self.caption else []
        return messages.short(rest[0], DESCRIPTION_MAX) if rest else ""


_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def _unpadded_b64(value: object, length: int, *, urlsafe: bool = False) -> str | None:
    """``value`` as canonical unpadded base64 (base64url if ``urlsafe``) if it is a string
    that decodes to exactly ``length`` bytes (padded or not), else None."""
    if not isinstance(value, str) or len(value) > 4 * length:
        return None
    if not (_B64URL if urlsafe else _B64).fullmatch(value):
        return None
    raw = value.rstrip("=")
    try:
        decoded = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(
            raw + "=" * (-len(raw) % 4)
        )
    except (binascii.Error, ValueError):
        return None
    if len(decoded) != length:
        return None
    encoded = base64.urlsafe_b64encode(decoded) if urlsafe else base64.b64encode(decoded)
    return encoded.decode().rstrip("=")


def encrypted_file(file: object) -> tuple[str, FileKey] | None:
    """(mxc URI, key) of an ``EncryptedFile`` object (Matrix spec, attachments v2), every field
    checked as untrusted JSON: ``url`` an mxc URI; ``key`` a JSON web key of kty ``oct``, alg
    ``A256CTR``, a 32-byte ``k`` and, if listed, ``key_ops`` holding ``decrypt``; a 16-byte
    ``iv``; ``hashes.sha256`` of 32 bytes; ``v`` ``"v2"``. None if anything is off."""
    if not isinstance(file, dict) or file.get("v") != "v2":
        return None
    url, jwk, hashes = file.get("url"), file.get("key"), file.get("hashes")
    if not isinstance(url, str) or not url.startswith("mxc://") or len(url) > URL_MAX:
        return None
    if not isinstance(jwk, dict) or jwk.get("kty") != "oct" or jwk.get("alg") != "A256CTR":
        return None
    ops = jwk.get("key_ops", ["decrypt"])
    if not isinstance(ops, list) or "decrypt" not in ops:
        return None
    key = _unpadded_b64(jwk.get("k"), 32, urlsafe=True)
    iv = _unpadded_b64(file.get("iv"), 16)
    digest = _unpadded_b64(hashes.get("sha256"), 32) if isinstance(hashes, dict) else None
    if key is None or iv is None or digest is None:
        return None
    return url, FileKey(key=key, iv=iv, sha256=digest)


def file_message(content: dict[str, Any]) -> FileMessage | None:
    """A file, image, video or audio message; None for anything else.

    A plain one has its mxc URI in ``url``; an encrypted one (in an encrypted room) has a
    ``file`` object instead, with the key, iv and hash that decrypt it (:func:`encrypted_file`;
    a malformed one is not a file). Captions follow Matrix v1.10: with a ``filename`` that
    differs from ``body``, the body is the caption; without one, the body is the file name.
    """
    kind = FILE_MSGTYPES.get(str(content.get("msgtype")))
    if kind is None:
        return None
    key: FileKey | None = None
    if "file" in content:
        found = encrypted_file(content.get("file"))
        if found is None:
            return None
        url, key = found
    else:
        plain = content.get("url")
        if not isinstance(plain, str) or not plain.startswith("mxc://"):
            return None
        url = plain
    body = content.get("body") if isinstance(content.get("body"), str) else ""
    filename = content.get("filename")
    if isinstance(filename, str) and filename.strip():
        caption = body if body != filename else ""
    else:
        filename, caption = body, ""
    raw_info = content.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    mimetype = info.get("mimetype") if isinstance(info.get("mimetype"), str) else None
    size = info.get("size")
    return FileMessage(
        kind=kind,
        mxc=url,
        filename=messages.short(str(filename), FILENAME_MAX) or kind,
        caption=str(caption).strip(),
        mimetype=mimetype[:MIMETYPE_MAX] if mimetype is not None else None,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        key=key,
    )


def query_words(text: str) -> list[str]:
    """The folded words of a search, at most ten."""
    return _WORD.findall(fold(text))[:10]


def permalink(room_id: str, event_id: str) -> str:
    """A matrix.to link to a message, which every Matrix client opens."""
    return f"https://matrix.to/#/{quote(room_id, safe='!:.-_')}/{quote(event_id, safe='$:.-_')}"
