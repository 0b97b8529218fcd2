"""The store: articles' chunks, sentence vectors and manifest in Chroma, plus the BM25 index
derived from them.

- `schema`: ids, `StoreConfig`, records and their metadata;
- `chroma`: clients (embedded or server), timeouts, retries, error mapping;
- `filters`: the one translation of `Filters` to a Chroma `where` and a BM25 mask;
- `store`: `Store`, the write protocol and the reads;
- `bm25`: the lexical index and the manager that keeps it current.
"""

from rag.store.bm25 import Bm25Index, Bm25Manager, bm25_manager
from rag.store.chroma import embedded_store_missing, make_client
from rag.store.filters import chroma_where
from rag.store.lexview import LexicalView
from rag.store.schema import (
    DOC_PREFIX,
    PAGE,
    STORE_KEY,
    ArticleWrite,
    ChunkHit,
    SentenceRecord,
    StoreConfig,
    StoreError,
    StoreMismatchError,
    StoreUnavailableError,
    chunk_id_for,
    published_number,
)
from rag.store.store import Store, open_store

__all__ = [
    "DOC_PREFIX",
    "PAGE",
    "STORE_KEY",
    "ArticleWrite",
    "Bm25Index",
    "LexicalView",
    "Bm25Manager",
    "ChunkHit",
    "SentenceRecord",
    "Store",
    "StoreConfig",
    "StoreError",
    "StoreMismatchError",
    "StoreUnavailableError",
    "bm25_manager",
    "chroma_where",
    "chunk_id_for",
    "embedded_store_missing",
    "make_client",
    "open_store",
    "published_number",
]
