"""Bytes and text of a corpus file: size limit before reading, encoding never fatal.

Every text-based loader starts from `decode_text`, so all formats agree on what is binary,
what is empty and how a non-UTF-8 byte is read.
"""

from __future__ import annotations

import codecs
import logging
import stat
from pathlib import Path

from ingest.loaders.common import LoadError

logger = logging.getLogger(__name__)

_MB = 1024 * 1024
_SNIFF_BYTES = 8192
# Share of C0 control bytes (other than whitespace/ESC) above which a file is not text.
_MAX_CONTROL_RATIO = 0.05


def _human_size(n: int) -> str:
    if n >= _MB:
        return f"{n / _MB:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def _too_big(rel: str, size: int, max_bytes: int) -> LoadError:
    return LoadError(
        rel,
        f"file is {_human_size(size)}, over the {_human_size(max_bytes)} limit "
        "(NEWSRAG_MAX_FILE_BYTES)",
    )


def read_bytes(path: Path, rel: str, max_bytes: int) -> bytes:
    """Read the file, checking its size first so a huge file is never pulled into memory."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise LoadError(rel, "cannot read: broken symlink (its target is missing)") from None
        raise LoadError(rel, "cannot read: file not found") from None
    except OSError as exc:
        raise LoadError(rel, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise LoadError(rel, "cannot read: is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise LoadError(rel, "cannot read: not a regular file")
    if st.st_size == 0:
        raise LoadError(rel, "empty file")
    if st.st_size > max_bytes:
        raise _too_big(rel, st.st_size, max_bytes)
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # +1: notice a file that grew after stat()
    except OSError as exc:
        raise LoadError(rel, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise _too_big(rel, len(data), max_bytes)
    if not data:
        raise LoadError(rel, "empty file")
    return data


_CONTROL_BYTES = frozenset(set(range(0x00, 0x09)) | set(range(0x0E, 0x20)) | {0x7F}) - {0x1B}


def _fallback_char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return chr(byte)  # latin-1


_CP1252_OR_LATIN1 = tuple(_fallback_char(b) for b in range(256))


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode each byte that is not valid UTF-8 as cp1252 (else latin-1).

    Per byte rather than per file, so a UTF-8 article with one stray Windows quote keeps its
    other accents intact instead of turning into mojibake.
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(_CP1252_OR_LATIN1[b] for b in bad), exc.end


codecs.register_error("newsrag-cp1252-fallback", _cp1252_fallback)


def _looks_binary(sample: bytes) -> bool:
    """NUL bytes or many control bytes: an image or archive renamed .txt, not an article."""
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b in _CONTROL_BYTES)
    return controls > len(sample) * _MAX_CONTROL_RATIO


def _decode(data: bytes, rel: str) -> str:
    """Bytes to str without ever failing on encoding: UTF-8 first, then a logged fallback."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Windows "Unicode"
        text = data.decode("utf-16", errors="replace")
    elif _looks_binary(data[:_SNIFF_BYTES]):
        raise LoadError(rel, "binary content, not text")
    else:
        text = _decode_utf8_with_fallback(data, rel)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_utf8_with_fallback(data: bytes, rel: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        logger.warning(
            "%s: not valid UTF-8 (first bad byte at offset %d); decoded those bytes as "
            "cp1252/latin-1",
            rel,
            exc.start,
        )
        return data.decode("utf-8", errors="newsrag-cp1252-fallback").removeprefix("\ufeff")


def decode_text(data: bytes, rel: str) -> str:
    """The file's text (see `_decode`); a file of only whitespace is an "empty file"."""
    text = _decode(data, rel)
    if not text.strip():
        raise LoadError(rel, "empty file")
    return text
