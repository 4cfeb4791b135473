"""One line of the results table, as plain data: built from a worker's Result or a skipped file."""

from __future__ import annotations

from dataclasses import dataclass

from shared import results_csv
from shared.messages import Result
from shared.scan import Skipped

# What a row is, for the status filter and the counters.
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass(frozen=True)
class TableRow:
    name: str  # what the user sees: the path relative to what was submitted
    path: str | None = None  # the file on this machine, when known (thumbnail, double-click)
    label: str = ""
    score: float | None = None
    top5: tuple[tuple[str, float], ...] = ()
    error: str = ""
    worker: str = ""
    model: str = ""
    latency_s: float | None = None
    request_id: str = ""
    job_id: str = ""
    status: str = DONE

    @property
    def ok(self) -> bool:
        return self.status == DONE

    def to_csv_row(self) -> results_csv.Row:
        """The `classify` CSV contract (image,label,score,top5,error,...)."""
        return results_csv.Row(
            image=self.name,
            label=self.label,
            score=self.score,
            top5=tuple(label for label, _ in self.top5),
            top5_scores=tuple(score for _, score in self.top5),
            error=self.error,
            model=self.model,
            worker=self.worker,
            latency_s=self.latency_s,
            request_id=self.request_id,
            looks_like_image=self.status != SKIPPED,
        )

    def to_json(self) -> dict:
        return {
            "image": self.name,
            "label": self.label or None,
            "score": self.score,
            "top5": [{"label": label, "score": score} for label, score in self.top5],
            "error": self.error or None,
            "status": self.status,
            "model": self.model or None,
            "worker": self.worker or None,
            "latency_s": self.latency_s,
            "request_id": self.request_id or None,
            "job_id": self.job_id or None,
            "path": self.path,
        }


def row_from_result(result: Result, path: str | None = None) -> TableRow:
    return TableRow(
        name=result.name,
        path=path,
        label=(result.label or "") if result.ok else "",
        score=result.score if result.ok else None,
        top5=tuple(result.top5) if result.ok else (),
        error=result.error or "",
        worker=result.worker_id or "",
        model=result.model or "",
        latency_s=results_csv.latency_of(result),
        request_id=result.request_id,
        job_id=result.job_id,
        status=DONE if result.ok else FAILED,
    )


def row_from_skipped(skipped: Skipped, job_id: str = "") -> TableRow:
    # A skipped file that looks like an image (by name or content) is a failure, not a shrug.
    return TableRow(name=skipped.name, error=skipped.reason, job_id=job_id,
                    status=FAILED if skipped.looks_like_image else SKIPPED)
