"""Turn corpus files into `Article`s: one loader per format behind an extension table.

The ingest pipeline calls `discover` to list the corpus and `load_file` on each file. A file that
yields nothing usable raises `LoadError` (path + a short human reason) so the run can report it
and go on; records skipped inside a multi-article dump (JSON list, JSONL) are returned as
`LoadResult.problems` instead, because the rest of the dump is still good.

Adding a format is one module with a `Loader` (bytes + corpus-relative name → `LoadResult`; see
`common.py`) and one line in `LOADERS`. Every text that leaves a loader went through
`normalize_text` (`common.make_article`): chunk and citation offsets index into that string.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from ingest.loaders import html, json_dump, markdown, pdf, text
from ingest.loaders.common import Loader, LoadError, LoadResult, describe
from ingest.loaders.dates import parse_date
from ingest.loaders.reading import read_bytes

logger = logging.getLogger(__name__)

__all__ = [
    "LOADERS",
    "SUPPORTED_EXTENSIONS",
    "LoadError",
    "LoadResult",
    "Loader",
    "discover",
    "load_file",
    "parse_date",
    "relative_name",
]

# File extension (lower case, with the dot) → the loader of that format.
LOADERS: Mapping[str, Loader] = MappingProxyType(
    {
        ".txt": text.load_text,
        ".md": markdown.load_markdown,
        ".markdown": markdown.load_markdown,
        ".html": html.load_html,
        ".htm": html.load_html,
        ".json": json_dump.load_json,
        ".jsonl": json_dump.load_jsonl,
        ".pdf": pdf.load_pdf,
    }
)
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(LOADERS)


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


# The feed list of `newsrag fetch` (ingest.feeds.registry) lives at the corpus root.
FEEDS_LIST = "feeds.toml"


def discover(root: Path) -> tuple[list[Path], list[Path]]:
    """List the corpus: (files we can load, files with other extensions), both sorted.

    Hidden files and directories are skipped (editor swap files, `.git`, our own store), and so
    are symlinks that lead outside `root`, so a link cannot pull a foreign tree into the corpus.
    Symlinked directories inside `root` are followed, with loop protection. `root` may be a
    single file. A missing `root` raises FileNotFoundError: an empty listing would silently
    "remove" the whole corpus on re-ingest.
    """
    if not root.exists() and not root.is_symlink():
        raise FileNotFoundError(f"corpus path does not exist: {root}")
    if not root.is_dir():
        return ([root], []) if _is_supported(root) else ([], [root])
    supported: list[Path] = []
    others: list[Path] = []
    real_root = os.path.realpath(root)
    _walk(root, real_root, frozenset({real_root}), supported, others)
    others = [p for p in others if p != root / FEEDS_LIST]  # newsrag's own file, not skipped
    return sorted(supported), sorted(others)


def _is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_EXTENSIONS


def _inside(real_path: str, real_root: str) -> bool:
    return real_path == real_root or real_path.startswith(real_root.rstrip(os.sep) + os.sep)


def _walk(
    directory: Path,
    real_root: str,
    ancestors: frozenset[str],
    supported: list[Path],
    others: list[Path],
) -> None:
    """Depth-first walk; `ancestors` holds the real paths above us, to stop symlink loops."""
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        logger.warning("cannot list %s: %s", directory, exc.strerror or exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = directory / entry.name
        if entry.is_symlink():
            target = os.path.realpath(path)
            if not _inside(target, real_root):
                logger.debug("skipping %s: symlink to %s, outside the corpus", path, target)
                continue
            if os.path.isdir(target):
                if target in ancestors:
                    logger.debug("skipping %s: symlink loop", path)
                else:
                    _walk(path, real_root, ancestors | {target}, supported, others)
                continue
            # A link to a file inside root, or a broken link: load_file reports the latter.
        elif entry.is_dir(follow_symlinks=False):
            _walk(path, real_root, ancestors | {os.path.realpath(path)}, supported, others)
            continue
        (supported if _is_supported(path) else others).append(path)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def load_file(path: Path, root: Path, *, max_bytes: int) -> LoadResult:
    """Load the article(s) of one file; raise LoadError for a file that yields nothing usable.

    Never raises anything else: an unexpected failure of a parser becomes
    `LoadError(path, "unreadable: …")`, so one odd file cannot stop an ingest run.
    """
    rel = relative_name(path, root)
    try:
        return _load(path, rel, max_bytes)
    except LoadError:
        raise
    except Exception as exc:  # the contract: LoadError or nothing
        logger.debug("unexpected error loading %s", rel, exc_info=True)
        raise LoadError(rel, f"unreadable: {describe(exc)}") from exc


def relative_name(path: Path, root: Path) -> str:
    """The corpus-relative POSIX path used as `doc_id` and `Article.path`.

    When `root` is the file itself (or not a directory) it is the file's name, so ingesting a
    single file gives the same id as ingesting its folder would for a top-level file.
    """
    if path == root or not root.is_dir():
        return path.name
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        pass
    try:  # e.g. one given relative and the other absolute; do not resolve symlinks
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return path.name


def _load(path: Path, rel: str, max_bytes: int) -> LoadResult:
    ext = path.suffix.lower()
    loader = LOADERS.get(ext)
    if loader is None:
        raise LoadError(rel, f"unsupported file type {ext or '(no extension)'!r}")
    return loader(read_bytes(path, rel, max_bytes), rel)
