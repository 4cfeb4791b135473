"""Background tasks: a failure becomes an `errored` signal (nothing escapes run()), cancel is cooperative."""

from __future__ import annotations

import threading

from desktop.tasks import Task, TaskRunner


def test_an_exception_becomes_errored_and_finished_still_comes(qtbot):
    runner = TaskRunner()

    def boom(task):
        raise OSError("disk on fire")

    task = Task(boom)
    order = []
    task.signals.errored.connect(lambda error: order.append(error))
    task.signals.finished.connect(lambda: order.append("finished"))
    with qtbot.waitSignals([task.signals.errored, task.signals.finished], timeout=5000, order="strict"):
        runner.start(task)
    error, last = order
    assert last == "finished"
    assert error.message == "disk on fire" and error.kind == "OSError"
    qtbot.waitUntil(lambda: runner.active == 0)


def test_cancel_is_seen_by_the_running_function_and_results_reach_the_gui_thread(qtbot):
    runner = TaskRunner()
    started = threading.Event()

    def loop(task):
        started.set()
        while not task.cancelled():
            task.report("tick")
            threading.Event().wait(0.01)
        return threading.current_thread() is not threading.main_thread()

    task = Task(loop)
    seen = []
    task.signals.result.connect(lambda off_main: seen.append((off_main, threading.current_thread())))
    runner.start(task)
    assert started.wait(5)
    with qtbot.waitSignal(task.signals.finished, timeout=5000):
        task.cancel()
    assert seen == [(True, threading.main_thread())]
