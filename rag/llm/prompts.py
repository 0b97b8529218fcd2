"""The prompt the LLM answerer sends: module constants (override them here, in
`rag.llm.prompts`, to change what the model is asked) and the message builder."""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.prompts import PromptTemplate

from rag.retrieval import Passage

SYSTEM_PROMPT = (
    "You answer questions about news articles using only the numbered passages you are "
    "given. If the passages do not contain the answer, say so."
)
PASSAGE_TEMPLATE = PromptTemplate("[{number}] {title} — {text}")
QA_PROMPT = PromptTemplate(
    "{context_str}\n"
    "\n"
    "Question: {query_str}\n"
    "\n"
    "Write a short answer to the question (at most 3 sentences) using only facts from the "
    "passages above. End each sentence with the number of the passage it comes from in "
    "square brackets, like [1]."
)
CONTEXT_PASSAGES = 3  # how many of the top passages the model sees
PASSAGE_CHARS = 1500  # each passage is cut to this many characters in the prompt
ANSWER_MAX_SENTENCES = 3


def format_context(passages: Sequence[Passage]) -> str:
    parts = []
    for i, p in enumerate(passages):
        text = " ".join(p.hit.text.split())
        if len(text) > PASSAGE_CHARS:
            text = text[:PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"
        title = str(p.hit.metadata.get("title", "")) or "(untitled)"
        parts.append(PASSAGE_TEMPLATE.format(number=i + 1, title=title, text=text))
    return "\n\n".join(parts)


def build_messages(question: str, passages: Sequence[Passage]) -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.SYSTEM, content=SYSTEM_PROMPT),
        ChatMessage(
            role=MessageRole.USER,
            content=QA_PROMPT.format(context_str=format_context(passages), query_str=question),
        ),
    ]
