"""What an ingest of a PATH may touch: which folder doc_ids are relative to, and which
articles of the store it may remove.

The store mirrors the corpus folder (`NEWSRAG_CORPUS_DIR`), and doc_ids are paths relative
to it, so `newsrag ingest corpus/web` gives `web/a.md` the same id as a plain `newsrag ingest`
does. An ingest of PATH removes only articles whose files lived under PATH (for a file: the
articles that file held, e.g. records dropped from a JSONL dump). A PATH outside the corpus
folder is refused: its articles would have ids that are not corpus paths, and the next plain
`newsrag ingest` would remove them again as "not in the corpus", so adding them would only
look like it worked. `replace=True` (`--replace`) is the explicit way to make the store mirror
PATH instead, removing every article not found under it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rag.settings import Settings


class OutsideCorpusError(ValueError):
    """PATH is not inside the corpus folder (and `replace` was not asked for)."""


@dataclass(frozen=True)
class Scope:
    """`root`: what to read; `base`: what doc_ids are relative to; `prefix`: the base-relative
    path whose articles may be removed ("" = all of them; None = none)."""

    root: Path
    base: Path
    prefix: str | None

    def owns(self, article_path: str) -> bool:
        """Whether an article stored from `article_path` (base-relative) falls in this run."""
        if self.prefix is None:
            return False
        if not self.prefix:
            return True
        return article_path == self.prefix or article_path.startswith(self.prefix + "/")


def _inside(path: Path, folder: Path) -> str | None:
    """`path` relative to `folder` as a POSIX string ("" for the folder itself), or None when
    it lies outside. Compared both as written (absolute) and with symlinks resolved."""
    for p, f in (
        (Path(os.path.abspath(path)), Path(os.path.abspath(folder))),
        (path.resolve(), folder.resolve()),
    ):
        if p == f:
            return ""
        if p.is_relative_to(f):
            return p.relative_to(f).as_posix()
    return None


def resolve_scope(settings: Settings, path: Path | None, *, replace: bool = False) -> Scope:
    corpus = settings.corpus_dir
    root = path if path is not None else corpus
    rel = _inside(root, corpus) if corpus.is_dir() else ("" if path is None else None)
    if rel is None:
        if not replace:
            raise OutsideCorpusError(
                f"{root} is outside the corpus folder {corpus}: the store mirrors that folder, "
                "so articles ingested from elsewhere would be removed by the next "
                f"`newsrag ingest`. Copy or move them into {corpus} (for example "
                f"{corpus / root.name}) and ingest that, set NEWSRAG_CORPUS_DIR to another "
                f"folder, or pass --replace to make the store mirror {root} (every article "
                "not under it is removed)"
            )
        return Scope(root=root, base=root, prefix="")
    if replace:
        return Scope(root=root, base=corpus, prefix="")
    return Scope(root=root, base=corpus, prefix=rel)
