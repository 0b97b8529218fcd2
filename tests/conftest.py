"""Shared fixtures: settings in tmp dirs, a fast fake embedder, the real model once per run."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from chroma_server import any_settings, chroma_server, store_mode  # noqa: E402, F401
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

from rag.settings import Settings  # noqa: E402

# Property tests (tests/test_doors*.py): 500 examples per door in CI (`CI` set, as `.ci/run`
# does), a quick 40 on a developer's machine; HYPOTHESIS_PROFILE picks one explicitly.
_PROPERTY_CHECKS = {
    "deadline": None,  # a shared CPU makes per-example timing meaningless
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
hypothesis_settings.register_profile("ci", max_examples=500, **_PROPERTY_CHECKS)
hypothesis_settings.register_profile("dev", max_examples=40, **_PROPERTY_CHECKS)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


class FakeEmbedder:
    """Hashed bag of words: deterministic, instant, and similar texts get similar vectors.

    For unit tests of plumbing only; every path is also tested with the real model.
    """

    name = "fake-embedder"
    dim = 64
    max_tokens = 256

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
            out[i, 0] += 0.01
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    from rag.pipeline import shared_embedder

    return shared_embedder(Settings())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    return Settings(corpus_dir=corpus, store_dir=tmp_path / "store", collection=f"t{os.getpid()}")


@pytest.fixture(scope="module")
def news_settings(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Settings:  # noqa: ANN001
    """The small news corpus of `newsdata`, ingested with the real model (once per module)."""
    from newsdata import write_corpus

    from ingest import Ingestor

    root = tmp_path_factory.mktemp("news")
    settings = Settings(corpus_dir=root / "corpus", store_dir=root / "store", collection="news")
    write_corpus(settings.corpus_dir)
    summary = Ingestor(settings, embedder=real_embedder).run()
    assert not summary.failed
    return settings


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (`playwright install` cannot download browsers
    here), once per module; the browser tests open their own contexts and pages in it."""
    from browser_support import CHROMIUM, CHROMIUM_ARGS
    from support import require

    require(CHROMIUM.exists(), "Debian chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
