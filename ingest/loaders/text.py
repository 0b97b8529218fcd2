"""Plain text (.txt): the whole file is the article; its title comes from the file name."""

from __future__ import annotations

from ingest.loaders.common import LoadResult, Meta, make_article, require, title_from_name
from ingest.loaders.reading import decode_text


def load_text(data: bytes, rel: str) -> LoadResult:
    text = decode_text(data, rel)
    return LoadResult([require(make_article(rel, rel, Meta(), text, title_from_name(rel)), rel)])
