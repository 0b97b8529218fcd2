"""Generated answers from an LLM, with every citation checked against its passage.

- `prompts`: what the model is asked (system prompt, passage template, question prompt);
- `backends`: the llama-index `LLM` for `Settings.llm` (an OpenAI-compatible server, or a local
  GGUF run in-process by llama-cpp-python) and one-line reasons for failures;
- `generation`: streaming in a worker thread with a deadline for the whole generation;
- `answerer`: `LLMAnswerer`, which decides abstention from retrieval before the model is asked,
  streams the draft, checks it with `rag.citecheck` and falls back to the extractive answer.
"""

from rag.llm.answerer import (
    LLMAnswerer,
    build_llm_answerer,
    check_draft,
    checked_citations,
    passage_evidence,
)
from rag.llm.backends import (
    LlamaCppChat,
    LLMUnavailable,
    build_llm,
    describe_endpoint,
    describe_error,
    resolve_model_path,
    smollm2_gguf,
)
from rag.llm.generation import Generation, GenerationTimeout
from rag.llm.prompts import (
    CONTEXT_PASSAGES,
    PASSAGE_TEMPLATE,
    QA_PROMPT,
    SYSTEM_PROMPT,
    build_messages,
    format_context,
)

__all__ = [
    "CONTEXT_PASSAGES",
    "Generation",
    "GenerationTimeout",
    "LLMAnswerer",
    "LLMUnavailable",
    "LlamaCppChat",
    "PASSAGE_TEMPLATE",
    "QA_PROMPT",
    "SYSTEM_PROMPT",
    "build_llm",
    "build_llm_answerer",
    "build_messages",
    "check_draft",
    "checked_citations",
    "describe_endpoint",
    "describe_error",
    "format_context",
    "passage_evidence",
    "resolve_model_path",
    "smollm2_gguf",
]
