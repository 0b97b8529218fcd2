"""Example questions drawn from the corpus, for an empty chat.

Fixed examples would go stale or ask about articles that are not there; questions built from
the titles of the most recent articles always have an answer in this corpus. Titles alone are
used (they are in the manifest, so no chunk is read) and each is phrased as a question.
"""

from __future__ import annotations

import re
from typing import Protocol

from rag.records import DocumentInfo

MAX_TITLE_CHARS = 90
_WORDS = re.compile(r"\w+")


class _ListsDocuments(Protocol):
    def list_documents(self) -> list[DocumentInfo]: ...


def question_from_title(title: str) -> str | None:
    """A question about one headline, or None if the title says too little.

    Titles that look like file names (`article-3`) or have fewer than three words are skipped.
    """
    title = " ".join(title.split()).strip(" .:;-–—")
    if len(_WORDS.findall(title)) < 3:
        return None
    if len(title) > MAX_TITLE_CHARS:
        title = title[:MAX_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    if title.endswith("?"):
        return title
    return f"What happened: {title}?"


def example_questions(store: _ListsDocuments, n: int = 3) -> list[str]:
    """Up to n questions about the most recent articles, one per distinct title."""
    docs = sorted(store.list_documents(), key=lambda d: (d.published or "", d.doc_id))
    questions: list[str] = []
    seen: set[str] = set()
    for doc in reversed(docs):
        key = " ".join(_WORDS.findall(doc.title.lower()))
        question = question_from_title(doc.title)
        if question is None or key in seen:
            continue
        seen.add(key)
        questions.append(question)
        if len(questions) >= n:
            break
    return questions
