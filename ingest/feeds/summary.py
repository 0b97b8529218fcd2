"""The outcome of a fetch run: the ingest summary plus what the fetching did."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ingest.summary import IngestSummary


class FetchFailure(BaseModel):
    url: str
    reason: str


class FetchSummary(IngestSummary):
    """`newsrag ingest`'s summary (added/updated/... of the corpus ingest that followed) plus:
    fetched — feeds and pages downloaded in full (HTTP 200); not_modified — conditional
    requests answered 304; fetch_failures — every feed or page that failed, with the reason;
    written — article files created or changed; pruned — files removed by --prune."""

    fetched: int = 0
    not_modified: int = 0
    fetch_failures: list[FetchFailure] = Field(default_factory=list)
    written: int = 0
    pruned: int = 0
    requests: int = 0
    bytes: int = 0
    fetch_seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{super().line()}; fetched {self.fetched}, not modified {self.not_modified}, "
            f"fetch failures {len(self.fetch_failures)}"
        )

    @property
    def ok(self) -> bool:
        return not self.failed and not self.fetch_failures
