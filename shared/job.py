"""The job client: upload + enqueue + collect. Used by `imgrec classify` and by the desktop app.

CONTRACT (implemented by the job-client work): names and signatures are stable; callbacks may be
called from background threads; nothing here touches Qt or torch.

    client = JobClient(cfg)                 # creates this client's own reply queue
    job = client.submit(scan_result.images, on_uploaded=..., cancelled=lambda: False)
    for result in client.collect(job, on_result=...):   # every submitted item exactly once
        ...
    client.close()                          # deletes the reply queue
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from shared.config import Config
from shared.messages import Result
from shared.scan import Item


@dataclass
class Job:
    job_id: str
    requests: dict[str, Item] = field(default_factory=dict)  # request_id -> item, for enqueued items
    upload_errors: list[Result] = field(default_factory=list)  # items that could not be uploaded/enqueued
    cancelled: bool = False


class JobClient:
    def __init__(self, cfg: Config, s3=None, sqs=None, client_id: str | None = None): ...

    def submit(
        self,
        items: Sequence[Item],
        on_uploaded: Callable[[Item, int, int], None] | None = None,  # (item, files_done, bytes_done)
        cancelled: Callable[[], bool] = lambda: False,
        job_id: str | None = None,
    ) -> Job:
        """Uploads concurrently, then enqueues in batches of 10 as uploads finish.

        On cancel: stops uploading; what was uploaded but not enqueued is not enqueued; what was
        enqueued stays in the job (its results still arrive)."""
        raise NotImplementedError

    def collect(
        self,
        job: Job,
        on_result: Callable[[Result], None] | None = None,
        timeout: float | None = None,  # seconds without progress; default cfg.result_timeout
    ) -> Iterator[Result]:
        """Yields one Result per request of the job, as they arrive on the reply queue; results
        missed on the queue are recovered from the output bucket; on timeout the rest become
        error results."""
        raise NotImplementedError

    def recollect(self, job_id: str) -> list[Result]:
        """A job's results from the output bucket alone (`imgrec results JOB_ID`)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
