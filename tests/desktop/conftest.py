"""Desktop tests: Qt offscreen, a window factory whose teardown stops every task, timer and process."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt makes the QApplication

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from shared.config import Config  # noqa: E402

WINDOW_WAIT_MS = 60_000


@pytest.fixture
def base_cfg() -> Config:
    """Built-in defaults only: no config file, no environment (the suite's autouse fixture clears it)."""
    return Config()


@pytest.fixture
def own_queue(moto_server, base_cfg):
    """own_queue(name) -> Config on the session's moto server with a request queue (and DLQ) of its own,
    provisioned and with no workers: what a test enqueues stays there to be counted."""
    from shared.provision import provision

    def make(name: str) -> Config:
        cfg = base_cfg.replace(endpoint_url=moto_server.endpoint, request_queue=f"{name}-requests",
                               dead_letter_queue=f"{name}-dlq", result_timeout=2.0)
        provision(cfg)
        return cfg

    return make


@pytest.fixture
def make_window(qtbot, tmp_path):
    """make_window(settings, history=PATH, cfg=Config) -> (view, controller), started; closed at teardown."""
    from desktop.controllers.main_controller import MainController
    from desktop.views.main_view import MainView

    made = []

    def make(settings, history: Path | None = None, cfg: Config | None = None, start: bool = True):
        view = MainView()
        qtbot.addWidget(view)
        controller = MainController(view, settings, cfg or Config(), history or tmp_path / "history.sqlite3",
                                    settings_path=tmp_path / "settings.json")
        made.append((view, controller))
        view.show()
        if start:
            controller.start()
        return view, controller

    yield make
    for view, controller in made:
        view.close()  # emits closing -> controller.shutdown()
        controller.shutdown()
        assert controller.jobs.wait(WINDOW_WAIT_MS), "a job helper did not exit"
        for runner in (controller.jobs.scans, controller.connection.runner,
                       controller.history_controller.runner, controller.export.runner,
                       controller.settings.runner, controller.thumbnails.runner):
            assert runner.wait(WINDOW_WAIT_MS), "a background task did not finish"


@pytest.fixture
def make_images():
    """make_images(folder, names) -> paths of small real images (made with Pillow, format by suffix)."""
    from PIL import Image

    def make(folder: Path, names=("a.jpg", "b.png")) -> list[Path]:
        paths = []
        for i, name in enumerate(names):
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 24), (40 * i % 255, 120, 200)).save(path)
            paths.append(path)
        return paths

    return make
