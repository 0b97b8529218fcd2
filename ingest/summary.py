"""The outcome of one ingest run, as the CLI, the web UI and scripts report it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Failure(BaseModel):
    path: str
    reason: str


class IngestSummary(BaseModel):
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[Failure] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)  # files with extensions we do not read
    dry_run: bool = False
    chunks_written: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"added {self.added}, updated {self.updated}, removed {self.removed}, "
            f"unchanged {self.unchanged}, failed {self.failed}"
        )
