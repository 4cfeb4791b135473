"""The terminal progress: a redrawn bar on a TTY, occasional plain lines otherwise, nothing when off."""

from __future__ import annotations

import io

from shared.messages import Result
from shared.progress import Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ok(i: int) -> Result:
    return Result(request_id=str(i), job_id="j", name=f"{i}.jpg", label="cat", score=0.9)


def test_tty_bar_is_redrawn_in_place_and_ends_with_a_newline():
    out, clock = io.StringIO(), Clock()
    progress = Progress(4, out, tty=True, clock=clock)
    for i in range(4):
        clock.now += 1
        progress.uploaded(None, i + 1, 100 * (i + 1))
    for i in range(3):
        clock.now += 1
        progress.result(ok(i))
    progress.result(Result(request_id="3", job_id="j", name="3.jpg", error="not an image"))
    progress.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.rsplit("\r", 1)[-1].startswith("[" + "#" * 24 + "] uploaded 4/4  results 4/4  1 failed")


def test_without_a_tty_it_prints_occasional_lines():
    out, clock = io.StringIO(), Clock()
    progress = Progress(100, out, tty=False, clock=clock)
    for i in range(100):
        clock.now += 0.1  # 10 s in all: a line every 5 s at most
        progress.result(ok(i))
    progress.close()
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 4 and "\r" not in out.getvalue()
    assert lines[-1].startswith("uploaded 0/100  results 100/100")


def test_disabled_prints_nothing():
    out = io.StringIO()
    progress = Progress(3, out, enabled=False, tty=True)
    progress.uploaded(None, 1, 10)
    progress.result(ok(1))
    progress.close()
    assert out.getvalue() == ""
