"""Helpers shared by the server-mode and multi-process tests: corpus variants, store
consistency checks, the environment of a child process, and a bounded wait."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from newsdata import ARTICLES

from ingest.loaders import discover, load_file
from rag.settings import Settings
from rag.store import Store, chunk_id_for

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# A longer version of one article: several chunks, so "all of its chunks or none" means something.
LONG_BATTERY = (
    ARTICLES["battery-plant.md"]
    + "\n"
    + "\n\n".join(
        [
            "The first production line will make cells for the city bus operator Dunmore Transit, "
            "which has ordered 240 electric buses for delivery between 2027 and 2030. A second line, "
            "planned for 2028, will make larger cells for grid storage containers that utilities "
            "install next to solar and wind farms to smooth their output over the day.",
            "Voltreon said sodium-ion cells store less energy per kilogram than lithium-ion cells "
            "but cost about a third less to make, because sodium is abundant and the cells need no "
            "cobalt or nickel. They also keep more of their capacity in freezing weather, which "
            "matters for buses that run through northern winters and stand outside overnight.",
            "The regional development agency will contribute 95 million euros towards the cost of "
            "the site, including a new rail siding and a water treatment plant. The company will "
            "pay for the rest of the 1.1 billion euro investment from its own funds and a loan from "
            "a group of four banks led by the Northern Investment Bank.",
            "Trade unions said they had signed an agreement with Voltreon covering wages, training "
            "and working hours for the first five years. About 300 of the jobs will be apprentice "
            "places, filled in partnership with the technical college in Dunmore, which is building "
            "a new workshop for battery assembly and testing.",
            "Residents of the villages near the former airfield asked for a bypass so that lorries "
            "delivering raw materials do not drive through their streets. The council said a "
            "planning application for the road would be published in the spring and that heavy "
            "traffic would use the rail siding wherever possible.",
        ]
    )
)
BRIDGE_V2 = ARTICLES["harbour-bridge.md"].replace("84 million pounds", "91 million pounds")

QUESTIONS = [
    "How much will the harbour bridge cost?",
    "Who won the national chess championship?",
    "How many jobs will the gigafactory create?",
    "Where was the stolen manuscript found?",
    "How much less wheat was harvested in the Vell valley?",
]


def check_consistent(store: Store) -> dict[str, str]:
    """Every stored chunk and sentence belongs to the committed version of its article, every
    committed chunk is there, once; nothing is pending. Returns doc_id -> committed sha."""
    docs = store.documents()
    assert not store.pending()
    chunk_ids = [h.chunk_id for h in store.iter_chunks()]
    assert len(chunk_ids) == len(set(chunk_ids)), "duplicate chunks"
    want = {
        chunk_id_for(doc_id, info.sha256, i)
        for doc_id, info in docs.items()
        for i in range(info.chunks)
    }
    assert set(chunk_ids) == want, {
        "orphans": sorted(set(chunk_ids) - want),
        "missing": sorted(want - set(chunk_ids)),
    }
    sentence_ids = store.sentences.get(include=[])["ids"]
    assert {sid.rsplit("/s", 1)[0] for sid in sentence_ids} == want
    return {d: i.sha256 for d, i in docs.items()}


def expected_shas(settings: Settings) -> dict[str, str]:
    """doc_id -> sha256 of every article in the corpus folder."""
    files, _ = discover(settings.corpus_dir)
    return {
        a.doc_id: a.sha256
        for f in files
        for a in load_file(f, settings.corpus_dir, max_bytes=settings.max_file_bytes).articles
    }


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "NEWSRAG_STORE_DIR": str(settings.store_dir),
        "NEWSRAG_CORPUS_DIR": str(settings.corpus_dir),
        "NEWSRAG_COLLECTION": settings.collection,
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    if settings.chroma_url:
        env["NEWSRAG_CHROMA_URL"] = settings.chroma_url
    return env


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
