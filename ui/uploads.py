"""Saving uploaded files into the corpus folder, safely.

The name of an uploaded file comes from the browser and is untrusted: it may try a path
(`../../etc/passwd.txt`, `..\\x.md`), a hidden name, a device or control characters. We keep
only a reduced base name with an extension ingest reads, refuse files over the size cap, never
follow a symlink or replace an existing file (a collision gets a `-1`, `-2`… suffix), and check
that the final path is inside the corpus folder.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loaders import SUPPORTED_EXTENSIONS

log = logging.getLogger(__name__)

ALLOWED_EXTENSIONS = SUPPORTED_EXTENSIONS  # exactly what ingest reads
MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w.\- ]+")  # \w is Unicode-aware: accented titles stay readable


class UploadError(ValueError):
    """An upload refused, with a reason a user can read."""


def safe_name(name: str, allowed: Iterable[str] = ALLOWED_EXTENSIONS) -> str:
    """Reduce an uploaded file's name to a safe base name, or raise UploadError.

    Only the last path component counts (either slash), unsafe characters become `_`, leading
    dots and spaces go (no hidden files), and the extension must be one ingest reads.
    """
    allowed = {ext.lower() for ext in allowed}
    base = unicodedata.normalize("NFKC", name or "").replace("\\", "/").split("/")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _UNSAFE.sub("_", base).strip().lstrip(". ").rstrip(". ")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        raise UploadError(f"no file extension; allowed: {', '.join(sorted(allowed))}")
    ext = "." + ext.lower()
    if ext not in allowed:
        raise UploadError(
            f"files of type {ext} are not ingested; allowed: {', '.join(sorted(allowed))}"
        )
    stem = stem.strip(" .")
    if not stem:
        raise UploadError("the file name is empty once reduced to a safe name")
    stem = stem[: MAX_NAME_CHARS - len(ext)].rstrip(" .")
    return stem + ext


@dataclass
class UploadResult:
    saved: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)

    def message(self) -> str:
        """One line per file, for the corpus tab's status."""
        lines = [f"saved {p.name}" for p in self.saved]
        lines += [f"refused {name}: {reason}" for name, reason in self.rejected]
        return "\n".join(lines) if lines else "no files"


def _open_new(directory: Path, name: str) -> tuple[Path, int]:
    """Create a new file in directory, suffixing the name on collision; never replace one."""
    stem, ext = os.path.splitext(name)
    for n in range(0, 1000):
        candidate = name if n == 0 else f"{stem}-{n}{ext}"
        path = directory / candidate
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            return path, os.open(path, flags, 0o644)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink sits on that name
                continue
            raise
    raise UploadError(f"too many files named {name} already")


def save_upload(source: Path, name: str, corpus_dir: Path, max_bytes: int) -> Path:
    """Copy one uploaded file into corpus_dir under a safe, new name; return its path."""
    base = safe_name(name)
    size = source.stat().st_size
    if size > max_bytes:
        raise UploadError(f"{size:,} bytes is over the upload limit of {max_bytes:,} bytes")
    if size == 0:
        raise UploadError("the file is empty")
    corpus_dir.mkdir(parents=True, exist_ok=True)
    root = corpus_dir.resolve()
    path, fd = _open_new(root, base)
    if path.resolve().parent != root:  # belt and braces: safe_name leaves no separator
        os.close(fd)
        path.unlink(missing_ok=True)
        raise UploadError("refused: it would land outside the corpus folder")
    try:
        with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
            # Copy at most max_bytes + 1 so a file that grew since stat() is still caught.
            copied = _copy_limited(src, dst, max_bytes + 1)
        if copied > max_bytes:
            raise UploadError(f"over the upload limit of {max_bytes:,} bytes")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    log.info("saved upload %r as %s (%d bytes)", name, path, copied)
    return path


def _copy_limited(src, dst, limit: int) -> int:
    copied = 0
    while copied < limit:
        block = src.read(min(1 << 20, limit - copied))
        if not block:
            break
        dst.write(block)
        copied += len(block)
    return copied


def save_uploads(files: Iterable[str | Path], corpus_dir: Path, max_bytes: int) -> UploadResult:
    """Save each uploaded temp file (Gradio keeps the browser's name as the base name)."""
    result = UploadResult()
    for item in files:
        source = Path(item)
        name = source.name
        try:
            result.saved.append(save_upload(source, name, corpus_dir, max_bytes))
        except UploadError as exc:
            result.rejected.append((name, str(exc)))
        except OSError as exc:
            log.warning("upload %r failed: %s", name, exc)
            result.rejected.append((name, f"could not be saved ({exc.strerror or exc})"))
    return result
