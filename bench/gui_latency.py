"""GUI responsiveness while a large job runs: the longest stall of the Qt event loop.

The real window (MainView + MainController, the embedded local cloud with the in-app autoscaler)
submits the 100-image workload repeated to at least 1,000 images. A QTimer asks to fire every few
milliseconds on the GUI thread; whenever it fires late, the event loop was busy (or waiting for
the interpreter lock) for that long, and a user would have felt it. Measured from the submission
to the last result, split into the upload phase and the results phase.

Meanwhile the gallery beside the table is scrolled, as a user browsing the thumbnails would
(``--scroll-px`` pixels every frame, back and forth; 0: no scrolling), so its thumbnails are decoded
and painted while results arrive. After the job the gallery is filled to ``--gallery`` results
(copies of the job's rows, in batches as a job delivers them, each with a file of its own, so its
thumbnail must be decoded), the app's end-of-job step runs (regroup the gallery, one full garbage
collection: "settle"), and the gallery is scrolled end to end and back for ``--scroll-seconds``:
three more phases, "fill", "settle" and "scroll".

Prints a table, then one JSON line with max_stall_ms (the goal: no stall over 50 ms).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_latency.py [--repeat 10] [--max-workers 2]
                                                                   [--gallery 10000] [--scroll-seconds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.measure import WORKLOAD, workload_copies  # noqa: E402

GOAL_MS = 50.0
FRAME_MS = 16  # the gallery scrolls once a frame
FILL_BATCH = 200  # rows per append when filling the gallery: about what one 100 ms flush brings
SETTLE_MS = 300


class StallMeter:
    """A fast timer on the GUI thread; each late firing is a stall of the event loop."""

    def __init__(self, interval_ms: int, phase):
        from PySide6.QtCore import Qt, QTimer

        self.interval = interval_ms / 1000.0
        self.phase = phase  # () -> "upload" | "results" | ...: what the app is doing now
        self.stalls: dict[str, list[float]] = defaultdict(list)
        # Of the stalls over the goal, per phase: how many the GUI thread spent working (its own CPU
        # time) rather than waiting for a core or the interpreter lock.
        self.busy: dict[str, int] = defaultdict(int)
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self._last = 0.0

    def start(self) -> None:
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        stall = max(0.0, now - self._last - self.interval)
        phase = self.phase()
        self.stalls[phase].append(stall)
        if stall * 1000 > GOAL_MS and (cpu - self._last_cpu) > stall / 2:
            self.busy[phase] += 1
        self._last, self._last_cpu = now, cpu


class GalleryScroller:
    """Scrolls the gallery's grid by ``step`` pixels every frame, bouncing between its ends."""

    def __init__(self, grid, step: int):
        from PySide6.QtCore import QTimer

        self.bar = grid.verticalScrollBar()
        self.step = step
        self.direction = 1
        self.frames = 0
        self.passes = 0  # ends reached
        self.timer = QTimer()
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self._frame)

    def start(self) -> None:
        if self.step > 0:
            self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _frame(self) -> None:
        bar = self.bar
        value = bar.value() + self.direction * self.step
        if value >= bar.maximum() or value <= bar.minimum():
            value = max(bar.minimum(), min(value, bar.maximum()))
            if bar.maximum() > bar.minimum():
                self.direction = -self.direction
                self.passes += 1
        bar.setValue(value)
        self.frames += 1


def summary(stalls: list[float]) -> dict[str, float]:
    if not stalls:
        return {"ticks": 0, "max_ms": 0.0, "p99_ms": 0.0, "over_goal": 0}
    ordered = sorted(stalls)
    return {
        "ticks": len(ordered),
        "max_ms": round(ordered[-1] * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
        "over_goal": sum(1 for s in ordered if s * 1000 > GOAL_MS),
    }


def spin(ms: int) -> None:
    """Runs the event loop for ``ms`` milliseconds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def fill_and_scroll(controller, grid, args, phase: list[str], files: list[Path]) -> dict:
    """Fills the gallery to ``args.gallery`` results in batches (copies of the job's rows under new names,
    each on one of ``files``), then scrolls it end to end for ``args.scroll_seconds``."""
    from PySide6.QtCore import QEventLoop, QTimer

    rows = controller.results.rows()
    copies = []
    n = 0
    while len(rows) + len(copies) < args.gallery:
        row = rows[n % len(rows)]
        copies.append(replace(row, name=f"copy-{n // len(rows)}/{row.name}", path=str(files[n]),
                              job_id="gallery-bench"))
        n += 1

    phase.append("fill")
    started = time.perf_counter()
    loop = QEventLoop()
    batches = [copies[i:i + FILL_BATCH] for i in range(0, len(copies), FILL_BATCH)]

    def next_batch() -> None:
        if not batches:
            loop.quit()
            return
        controller.results.append(batches.pop(0))
        QTimer.singleShot(100, next_batch)  # as the jobs controller flushes, every 100 ms

    QTimer.singleShot(0, next_batch)
    loop.exec()
    fill_s = time.perf_counter() - started

    phase.append("settle")  # what the app does when a job ends
    controller.gallery.regroup()
    controller.settle_memory()
    grid.scrollToTop()
    spin(SETTLE_MS)  # the late tick is counted in this phase

    phase.append("scroll")
    step = args.scroll_px
    if grid.verticalScrollBar().maximum() > 0:  # end to end and back within the time given
        frames = args.scroll_seconds * 1000 / FRAME_MS
        step = max(step, -(-2 * grid.verticalScrollBar().maximum() // int(frames)))
    scroller = GalleryScroller(grid, step)
    thumbnails = controller.gallery.thumbnails
    decodes_before = thumbnails._requests
    loop = QEventLoop()
    QTimer.singleShot(int(args.scroll_seconds * 1000), loop.quit)
    started = time.perf_counter()
    scroller.start()
    loop.exec()
    scroller.stop()
    seconds = time.perf_counter() - started
    return {"rows": controller.gallery.model.rowCount(), "fill_s": fill_s, "scroll_px": step, "scroll_s": seconds,
            "frames": scroller.frames, "frames_per_s": scroller.frames / seconds, "passes": scroller.passes,
            "decodes": thumbnails._requests - decodes_before}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="workload copies (default 10: 1,000 images)")
    parser.add_argument("--max-workers", type=int, default=0, help="the in-app autoscaler's cap (0: its default)")
    parser.add_argument("--interval-ms", type=int, default=5, help="the probe timer's interval")
    parser.add_argument("--timeout", type=float, default=1200.0, help="give up after this many seconds")
    parser.add_argument("--scroll-px", type=int, default=40, help="gallery scroll per frame during the job (0: none)")
    parser.add_argument("--gallery", type=int, default=10_000, help="results in the gallery after the job (0: skip)")
    parser.add_argument("--scroll-seconds", type=float, default=15.0, help="scrolling the filled gallery")
    args = parser.parse_args(argv)
    if not WORKLOAD.is_dir():
        print(f"gui_latency: the workload is not at {WORKLOAD}", file=sys.stderr)
        return 2

    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.controllers.main_controller import MainController
    from desktop.settings import EMBEDDED, IN_APP, DesktopSettings
    from desktop.views.main_view import MainView
    from shared.config import Config

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="imgrec-gui-latency-") as tmp:
        folder = Path(tmp) / "images"
        count = len(workload_copies(folder, args.repeat))
        # The gallery's extra rows get files of their own (made now, before anything is measured).
        extra = max(0, args.gallery - count)
        gallery_files = workload_copies(Path(tmp) / "gallery", -(-extra // 100)) if extra else []
        settings = DesktopSettings(target=EMBEDDED, scaler=IN_APP, max_workers=args.max_workers)
        view = MainView()
        controller = MainController(view, settings, Config(), Path(tmp) / "history.sqlite3")
        view.show()

        def wait_for(signal, seconds: float) -> list:
            loop = QEventLoop()
            got: list = []
            signal.connect(lambda *a: (got.append(a), loop.quit()))
            QTimer.singleShot(int(seconds * 1000), loop.quit)
            loop.exec()
            return got

        controller.start()
        if controller.connection.cfg is None and not wait_for(controller.connection.connected, 120):
            print("gui_latency: the embedded cloud did not start", file=sys.stderr)
            return 1

        jobs = controller.jobs
        after_job: list[str] = []  # the phase once the job is done

        def phase() -> str:
            if after_job:
                return after_job[-1]
            return "upload" if not jobs.jobs or any(not j.enqueued for j in jobs.jobs.values()) else "results"

        meter = StallMeter(args.interval_ms, phase)
        grid = view.results.gallery.grid
        scroller = GalleryScroller(grid, args.scroll_px)
        thumbnails = controller.gallery.thumbnails
        finished: list = []
        jobs.job_finished.connect(lambda outcome: (finished.append(outcome), loop.quit()))
        jobs.job_failed.connect(lambda job_id, error: (finished.append(error), loop.quit()))
        loop = QEventLoop()
        QTimer.singleShot(int(args.timeout * 1000), loop.quit)
        load_before = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None
        started = time.perf_counter()
        meter.start()
        scroller.start()
        jobs.submit_paths([str(folder)])
        loop.exec()
        scroller.stop()
        seconds = time.perf_counter() - started
        done, failed = jobs.done, jobs.failed
        job_scroll = {"frames": scroller.frames, "passes": scroller.passes, "decodes": thumbnails._requests}

        gallery = {}
        if args.gallery > 0 and finished and hasattr(finished[0], "results"):
            gallery = fill_and_scroll(controller, grid, args, after_job, gallery_files)
        meter.stop()
        load_after = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None
        view.close()
        controller.shutdown()

    if not finished or not hasattr(finished[0], "results"):
        print(f"gui_latency: the job did not finish: {finished[0] if finished else 'timed out'}", file=sys.stderr)
        return 1
    upload, results = summary(meter.stalls["upload"]), summary(meter.stalls["results"])
    overall = summary(meter.stalls["upload"] + meter.stalls["results"])
    fill, settle, scroll = (summary(meter.stalls[p]) for p in ("fill", "settle", "scroll"))
    busy_job = meter.busy["upload"] + meter.busy["results"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Qt platform {app.platformName()}")
    print(f"job: {count} images, {done} classified, {failed} failed, in {seconds:.1f} s "
          f"({count / seconds:.1f} images/s)")
    print(f"load average (1 min) {load_before} before, {load_after} after: other programs share these cores")
    print(f"probe timer every {args.interval_ms} ms; a stall is how late it fired")
    if args.scroll_px:
        print(f"during the job the gallery scrolled {args.scroll_px} px every {FRAME_MS} ms: {job_scroll['frames']} "
              f"frames, {job_scroll['passes']} end(s) reached, {job_scroll['decodes']} thumbnails asked for")
    if gallery:
        print(f"after the job: the gallery filled to {gallery['rows']:,} results in {gallery['fill_s']:.1f} s "
              f"({FILL_BATCH} per append), then scrolled {gallery['scroll_px']} px a frame for "
              f"{gallery['scroll_s']:.0f} s: {gallery['frames']} frames ({gallery['frames_per_s']:.0f}/s), "
              f"{gallery['passes']} end(s) reached, {gallery['decodes']} thumbnails asked for")
    print(f"{'phase':<10} {'ticks':>7} {'max ms':>8} {'p99 ms':>8} {'> 50 ms':>8} {'GUI busy':>8}")
    rows = [("upload", upload, meter.busy["upload"]), ("results", results, meter.busy["results"]),
            ("overall", overall, busy_job)]
    if gallery:
        k = f"{gallery['rows'] // 1000}k"
        rows += [(f"fill {k}", fill, meter.busy["fill"]), ("settle", settle, meter.busy["settle"]),
                 (f"scroll {k}", scroll, meter.busy["scroll"])]
    for name, s, busy in rows:
        print(f"{name:<10} {s['ticks']:>7} {s['max_ms']:>8} {s['p99_ms']:>8} {s['over_goal']:>8} {busy:>8}")
    print("(overall: the job, upload and results; GUI busy: of the stalls over 50 ms, those the GUI thread "
          "spent working, not waiting for a core or the interpreter lock)")
    verdict = "met" if overall["max_ms"] <= GOAL_MS else "NOT met"
    print(f"max stall {overall['max_ms']} ms: goal (no stall over {GOAL_MS:.0f} ms) {verdict}")
    print(json.dumps({
        "images": count, "classified": done, "failed": failed, "seconds": round(seconds, 1),
        "max_stall_ms": overall["max_ms"], "p99_stall_ms": overall["p99_ms"],
        "stalls_over_50ms": overall["over_goal"], "stalls_over_50ms_gui_busy": busy_job,
        "upload_max_stall_ms": upload["max_ms"],
        "results_max_stall_ms": results["max_ms"], "goal_ms": GOAL_MS, "goal_met": overall["max_ms"] <= GOAL_MS,
        "gallery_scroll_px_during_job": args.scroll_px, "gallery_frames_during_job": job_scroll["frames"],
        "gallery_rows": gallery.get("rows", 0), "gallery_fill_max_stall_ms": fill["max_ms"],
        "gallery_fill_p99_stall_ms": fill["p99_ms"], "gallery_scroll_max_stall_ms": scroll["max_ms"],
        "gallery_scroll_p99_stall_ms": scroll["p99_ms"], "gallery_scroll_stalls_over_50ms": scroll["over_goal"],
        "gallery_settle_stall_ms": settle["max_ms"],
        "gallery_scroll_frames_per_s": round(gallery.get("frames_per_s", 0.0), 1),
        "loadavg_before": load_before, "loadavg_after": load_after, "cores": os.cpu_count(),
    }))
    return 0 if done + failed == count else 1


if __name__ == "__main__":
    sys.exit(main())
