"""Plain data shared by ingest, retrieval, answering and the UI.

Pydantic models so that an `Answer` round-trips through JSON (CLI `--json`, the web API) without
hand-written serializers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rag.temporal.windows import resolve_as_of

# Lone UTF-16 surrogates (from a JSON or YAML "\\uD800" escape, or a file name that is not UTF-8)
# are legal in a Python str but cannot be encoded as UTF-8, so Chroma, SQLite and the browser
# would all fail on them.
_SURROGATES = re.compile("[\ud800-\udfff]")


def scrub_surrogates(text: str) -> str:
    """Replace each lone surrogate by U+FFFD, one character for one, so offsets do not move."""
    return _SURROGATES.sub("\ufffd", text)


def normalize_text(text: str) -> str:
    """Canonical article text: what we hash, chunk and quote from.

    Offsets of chunks and citations index into this string, so it must be computed once and
    stored, never recomputed differently elsewhere.
    """
    text = (
        unicodedata.normalize("NFC", scrub_surrogates(text))
        .replace("\r\n", "\n")
        .replace("\r", "\n")
    )
    lines = [line.rstrip() for line in text.split("\n")]
    out: list[str] = []
    blank = 0
    for line in lines:
        if line.strip():
            blank = 0
            out.append(line)
        else:
            blank += 1
            if blank == 1:
                out.append("")
    return "\n".join(out).strip()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Article(BaseModel):
    """One article as loaded from the corpus, its text already normalized."""

    doc_id: str
    title: str
    text: str
    source: str = ""
    url: str = ""
    author: str = ""
    published: dt.date | None = None
    path: str = ""  # corpus-relative path of the file it came from

    @field_validator("doc_id", "title", "text", "source", "url", "author", "path")
    @classmethod
    def _encodable(cls, value: str) -> str:
        return scrub_surrogates(value)

    @property
    def sha256(self) -> str:
        """Identity of the content: text plus the metadata a citation shows."""
        meta = "\x1f".join(
            [self.title, self.source, self.url, self.author, str(self.published or "")]
        )
        return sha256_text(meta + "\x1e" + self.text)


class Chunk(BaseModel):
    """A passage of an article, with its span in the article's normalized text."""

    chunk_id: str
    doc_id: str
    ordinal: int
    text: str
    start: int
    end: int


class DocumentInfo(BaseModel):
    """What the store knows of one ingested article (one manifest entry)."""

    doc_id: str
    sha256: str
    chunks: int
    title: str = ""
    source: str = ""
    url: str = ""
    published: str = ""  # ISO date or ""
    path: str = ""


class Filters(BaseModel):
    """Metadata filters applied to every retrieval side."""

    sources: list[str] | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    doc_ids: list[str] | None = None
    # Visibility as of a date: nothing published after it; undated articles stay visible
    # (unlike `until`, see rag.store.filters). The pipeline sets it from `query(as_of=...)`.
    as_of: dt.date | None = None

    def is_empty(self) -> bool:
        return not (self.sources or self.since or self.until or self.doc_ids or self.as_of)


class Query(BaseModel):
    """One question and everything that shapes its answer.

    Built and validated once where a question enters (`rag.query`, the CLI, the web chat) and
    passed whole through the pipeline, so that a new query option is one field here instead of
    one more keyword on every signature between the door and the retriever. Bad input raises
    `ValueError` (pydantic's `ValidationError` is one) naming the field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    filters: Filters = Field(default_factory=Filters)
    # Earlier (question, answer) turns of a chat; the pipeline condenses follow-ups against them.
    history: tuple[tuple[str, str], ...] = ()
    top_k: int | None = Field(default=None, ge=1)  # None: `Settings.top_k`
    # Answer as of this date (None: today, or `filters.as_of` when that is set).
    as_of: dt.date | None = None

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        value = scrub_surrogates(value).strip()
        if not value:
            raise ValueError("the question is empty")
        return value

    @field_validator("filters", mode="before")
    @classmethod
    def _filters(cls, value: object) -> object:
        return Filters() if value is None else value

    @field_validator("history", mode="before")
    @classmethod
    def _history(cls, value: object) -> object:
        return () if value is None else value

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of(cls, value: object) -> dt.date | None:
        # the same parsing (and the same message for a bad date) as everywhere else
        return None if value is None else resolve_as_of(value)  # type: ignore[arg-type]

    @classmethod
    def of(cls, query: Query | str, **options: object) -> Query:
        """`query` itself, or a question and `Query`'s fields as keywords (the shorthand
        `pipeline.answer("...", top_k=3)`): one place that turns either into a `Query`."""
        if isinstance(query, Query):
            if options:
                raise TypeError(f"options {sorted(options)} given beside a Query: set them on it")
            return query
        try:
            return cls.model_validate({"question": query, **options})
        except ValidationError as exc:  # one line a user can act on, not pydantic's report
            raise ValueError(validation_reason(exc)) from None


def validation_reason(exc: ValidationError) -> str:
    """`field: problem` for each error of a validation, on one line."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        what = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {what}" if where else what)
    return "; ".join(parts)


class Citation(BaseModel):
    number: int
    doc_id: str
    chunk_id: str
    title: str
    source: str = ""
    url: str = ""
    published: str = ""
    passage: str
    passage_start: int = 0  # offset of the passage in the article
    quote: str = ""  # verbatim substring of `passage`
    quote_start: int = 0  # offsets of the quote in the article text
    quote_end: int = 0
    score: float = 0.0
    checked: bool = True  # for LLM answers: whether the quote was verified against the passage
    support: float = 1.0  # how well the cited passage supports the sentence (0..1)


class Answer(BaseModel):
    question: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    abstained: bool = False
    # The answer itself (a name, number, date or short phrase): a verbatim substring of the
    # quote of citation `short_citation`, at `short_start:short_end` in that article's text.
    # Empty when no span is confident: never a guess.
    short: str = ""
    short_citation: int = 0
    short_start: int = 0
    short_end: int = 0
    retrieval_query: str = ""  # the standalone query actually searched (after condensing)
    notice: str = ""  # e.g. "LLM unavailable, extractive answer shown"
    timings: dict[str, float] = Field(default_factory=dict)  # milliseconds per stage
    # The date the question was answered as of (nothing published later was visible).
    asked_as_of: str = ""
    # When the top passages disagree over time, the date of the newest evidence the answer
    # used (its text then starts "As of <date>: "); "" otherwise.
    as_of: str = ""
    # The date window read from the question ("last month" → since/until), "" when none.
    window: str = ""
