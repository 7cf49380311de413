"""Text out of shared documents (PDF, DOCX, ODT, plain text, Markdown), within limits.

Extraction runs in a worker thread with a time limit, and the extractors also check a deadline
as they go (per page, per paragraph), so a huge or hostile file cannot stall the bot: it is
skipped with a reason. Zip-based formats are checked for their unpacked size before parsing.
An encrypted attachment is checked against its SHA-256 and decrypted first (:func:`decrypt`):
a file that does not match its hash is skipped with that reason, never read.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from storage.materials import FileKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    max_download: int = 20_000_000  # bytes fetched from the homeserver
    max_text: int = 1_000_000  # characters of text kept per document
    max_unpacked: int = 100_000_000  # bytes inside a DOCX/ODT archive
    timeout: float = 30.0  # seconds of extraction per document


LIMITS = Limits()

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
_BY_MIME = {
    PDF: "pdf",
    DOCX: "docx",
    ODT: "odt",
    "text/plain": "text",
    "text/markdown": "text",
    "text/x-markdown": "text",
}
_BY_SUFFIX = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".odt": "odt",
    ".txt": "text",
    ".md": "text",
    ".markdown": "text",
}


class ExtractionError(Exception):
    """The document's text could not be had; the message is the reason logged and stored."""


def document_kind(mimetype: str | None, filename: str | None) -> str | None:
    """'pdf', 'docx', 'odt' or 'text' for a document we can read, else None."""
    if mimetype:
        kind = _BY_MIME.get(mimetype.split(";")[0].strip().lower())
        if kind is not None:
            return kind
    if filename:
        name = filename.lower()
        for suffix, kind in _BY_SUFFIX.items():
            if name.endswith(suffix):
                return kind
    return None


class _Text:
    """Collects text up to a limit and checks the deadline on every piece."""

    def __init__(self, limit: int, deadline: float) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.deadline = deadline
        self.truncated = False

    def add(self, piece: str) -> bool:
        """Add a piece; False once the limit is reached (stop extracting)."""
        if time.monotonic() > self.deadline:
            raise ExtractionError("took too long")
        piece = piece.strip()
        if not piece:
            return True
        room = self.limit - self.size
        if len(piece) >= room:
            self.parts.append(piece[:room])
            self.size = self.limit
            self.truncated = True
            return False
        self.parts.append(piece)
        self.size += len(piece) + 1
        return True

    def text(self) -> str:
        return "\n".join(self.parts)


def _feed(out: _Text, pieces: Iterable[str]) -> None:
    for piece in pieces:
        if not out.add(piece):
            return


def _pdf(data: bytes, out: _Text) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError("the PDF is encrypted")
        _feed(out, (page.extract_text() or "" for page in reader.pages))
    except ExtractionError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
        raise ExtractionError(f"unreadable PDF ({type(err).__name__})") from err


def _check_zip(data: bytes, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise ExtractionError("not a valid document archive") from err
    if unpacked > limits.max_unpacked:
        raise ExtractionError(f"unpacks to {unpacked} bytes (limit {limits.max_unpacked})")


def _docx(data: bytes, out: _Text) -> None:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise ExtractionError(f"unreadable DOCX ({type(err).__name__})") from err
    except Exception as err:  # lxml's XMLSyntaxError and friends
        raise ExtractionError(f"unreadable DOCX ({type(err).__name__})") from err

    def pieces() -> Iterable[str]:
        for paragraph in document.paragraphs:
            yield paragraph.text
        for table in document.tables:
            for row in table.rows:
                yield " ".join(cell.text for cell in row.cells)

    _feed(out, pieces())


def _odt(data: bytes, out: _Text) -> None:
    from odf import teletype  # type: ignore[import-untyped]
    from odf.opendocument import load  # type: ignore[import-untyped]
    from odf.text import H, P  # type: ignore[import-untyped]

    try:
        document = load(io.BytesIO(data))
    except Exception as err:  # odfpy raises many kinds (KeyError, SAX errors, ...)
        raise ExtractionError(f"unreadable ODT ({type(err).__name__})") from err

    def pieces() -> Iterable[str]:
        for element in document.text.getElementsByType(H) + document.text.getElementsByType(P):
            yield str(teletype.extractText(element))

    _feed(out, pieces())


def _plain(data: bytes, out: _Text) -> None:
    if b"\x00" in data[:8192]:
        raise ExtractionError("not a text file (binary data)")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 leaves only a few bytes undefined
        text = data.decode("latin-1")
    _feed(out, text.splitlines())


_EXTRACTORS: dict[str, Callable[[bytes, _Text], None]] = {
    "pdf": _pdf,
    "docx": _docx,
    "odt": _odt,
    "text": _plain,
}


def decrypt(data: bytes, key: FileKey) -> bytes:
    """An encrypted attachment's plaintext (AES-256-CTR), after checking the SHA-256 of the
    ciphertext against the hash its event gave (blocking). Raises :class:`ExtractionError`."""
    from nio.crypto.attachments import decrypt_attachment
    from nio.exceptions import EncryptionError

    try:
        return bytes(decrypt_attachment(data, key.key, key.sha256, key.iv))
    except EncryptionError as err:
        if "SHA-256" in str(err):
            raise ExtractionError("the encrypted file does not match its hash") from err
        raise ExtractionError("the encrypted file cannot be decrypted") from err


async def decrypt_async(data: bytes, key: FileKey) -> bytes:
    """:func:`decrypt` in a worker thread (a 20 MB file takes a moment)."""
    return await asyncio.to_thread(decrypt, data, key)


def extract(data: bytes, kind: str, limits: Limits | None = None) -> str:
    """The text of a document (blocking). Raises :class:`ExtractionError` with the reason."""
    limits = limits or LIMITS
    extractor = _EXTRACTORS.get(kind)
    if extractor is None:
        raise ExtractionError(f"cannot read {kind} documents")
    if len(data) > limits.max_download:
        raise ExtractionError(f"larger than {limits.max_download} bytes")
    if kind in ("docx", "odt"):
        _check_zip(data, limits)
    out = _Text(limits.max_text, time.monotonic() + limits.timeout)
    extractor(data, out)
    if out.truncated:
        log.info("Document text cut at %d characters", limits.max_text)
    return out.text()


async def extract_async(data: bytes, kind: str, limits: Limits | None = None) -> str:
    """:func:`extract` in a worker thread, given up on after the time limit."""
    limits = limits or LIMITS
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(extract, data, kind, limits), limits.timeout + 1
        )
    except TimeoutError as err:
        raise ExtractionError("took too long") from err
