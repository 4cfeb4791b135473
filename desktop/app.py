"""`imgrec-desktop`: the desktop client.

    imgrec-desktop                                   # the embedded local cloud by default
    imgrec-desktop --demo FOLDER --screenshot PNG    # scripted: submit, wait for every result, save, exit 0
                   [--gallery-screenshot PNG]        # ... and the gallery, given the window's room

With ``QT_QPA_PLATFORM=offscreen`` the scripted run needs no display.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from desktop.settings import EMBEDDED, IN_APP, DesktopSettings, load_settings
from shared.children import run_child
from shared.config import ConfigError, load_config

APP_NAME = "imgrec"
DEMO_TIMEOUT_SECONDS = 600


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgrec-desktop", description="Drag images in, watch them classified.")
    parser.add_argument("--config", metavar="TOML", help="imgrec settings file (default ~/.config/imgrec/config.toml)")
    parser.add_argument("--settings", metavar="JSON", help="the desktop's settings file (default: per user)")
    parser.add_argument("--history", metavar="SQLITE", help="the job history database (default: per user)")
    parser.add_argument("--demo", metavar="FOLDER", help="scripted run: submit FOLDER to the embedded cloud")
    parser.add_argument("--screenshot", metavar="PNG", help="with --demo: save the window here once done")
    parser.add_argument("--gallery-screenshot", metavar="PNG",
                        help="with --demo: then save the window again with the gallery given its room")
    parser.add_argument("--timeout", type=float, default=DEMO_TIMEOUT_SECONDS, metavar="S",
                        help=f"with --demo: give up after S seconds (default {DEMO_TIMEOUT_SECONDS})")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return parser


def _version() -> str:
    try:
        return version("imgrec")  # the installed project's; a packaged app carries its metadata (build.spec)
    except PackageNotFoundError:
        return "(not installed)"


def _data_dir() -> Path:
    from PySide6.QtCore import QStandardPaths

    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location) if location else Path.home() / ".local" / "share" / APP_NAME


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if (code := run_child(argv)) is not None:  # the packaged app re-running itself as a child process
        return code
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not args.verbose:  # the scaler's decisions are in the window's Scaler tab
        logging.getLogger("imgrec.scaler").setLevel(logging.WARNING)
    if (args.screenshot or args.gallery_screenshot) and not args.demo:
        print("imgrec-desktop: --screenshot and --gallery-screenshot need --demo FOLDER", file=sys.stderr)
        return 2
    if args.demo and not Path(args.demo).exists():
        print(f"imgrec-desktop: {args.demo} does not exist", file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    from desktop.controllers.main_controller import MainController
    from desktop.views.main_view import MainView

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    data_dir = _data_dir()
    settings_path = Path(args.settings) if args.settings else data_dir / "desktop-settings.json"
    history_path = Path(args.history) if args.history else data_dir / "history.sqlite3"
    try:
        base_cfg = load_config(args.config)
        settings = load_settings(settings_path, DesktopSettings.from_config(base_cfg))
    except ConfigError as exc:
        print(f"imgrec-desktop: configuration error: {exc}", file=sys.stderr)
        return 2

    scratch: tempfile.TemporaryDirectory | None = None
    if args.demo:
        # The scripted run always uses a fresh embedded cloud, whatever the saved settings say,
        # and does not save settings or touch the user's history.
        settings = replace(settings, target=EMBEDDED, scaler=IN_APP)
        settings_path = None
        if not args.history:
            scratch = tempfile.TemporaryDirectory(prefix="imgrec-demo-")
            history_path = Path(scratch.name) / "history.sqlite3"

    view = MainView()
    controller = MainController(view, settings, base_cfg, history_path, settings_path)
    view.show()
    controller.start()
    if args.demo:
        from desktop.demo import DemoRun

        demo = DemoRun(controller, app, Path(args.demo), Path(args.screenshot) if args.screenshot else None,
                       timeout=args.timeout,
                       gallery_screenshot=Path(args.gallery_screenshot) if args.gallery_screenshot else None)
        demo.start()
        app.exec()
        controller.shutdown()
        if scratch is not None:
            scratch.cleanup()
        return demo.exit_code
    code = app.exec()
    controller.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
