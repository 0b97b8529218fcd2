"""Loading, chunking and embedding articles into the newsrag store."""

from ingest.runner import Ingestor, delete_document, ingest_corpus
from ingest.summary import Failure, IngestSummary

__all__ = ["Failure", "IngestSummary", "Ingestor", "delete_document", "ingest_corpus"]
