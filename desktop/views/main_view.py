"""The main window's layout: toolbar, banner, numbers, upload progress, chart, and the tabs below.

Dropping files or folders anywhere on the window emits ``paths_dropped``; closing emits ``closing``.
Everything else is wired by the controllers.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow, QSplitter, QTabWidget, QToolBar, QVBoxLayout, QWidget

from desktop.views.banner_view import BannerView
from desktop.views.chart_view import ChartView
from desktop.views.history_view import HistoryView
from desktop.views.results_view import ResultsView
from desktop.views.scaler_view import ScalerView
from desktop.views.skipped_view import SkippedView
from desktop.views.status_view import StatusView
from desktop.views.upload_view import UploadView

MIN_SIZE = QSize(1000, 650)


def _action(window: QWidget, text: str, shortcut, tip: str = "") -> QAction:
    """An action whose tooltip names its shortcut, so the toolbar teaches it."""
    action = QAction(text, window)
    tip = tip or text.rstrip("…")
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        tip += f" ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
    action.setToolTip(tip)
    return action


def local_paths(event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> list[str]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


class MainView(QMainWindow):
    paths_dropped = Signal(list)
    closing = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("imgrec — image recognition")
        self.setMinimumSize(MIN_SIZE)
        self.resize(1280, 820)
        self.setAcceptDrops(True)

        toolbar = QToolBar("Main")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(toolbar)
        self.add_folder_action = _action(self, "Add folder…", "Ctrl+Shift+O")
        self.add_files_action = _action(self, "Add files…", QKeySequence.StandardKey.Open)
        self.export_csv_action = _action(self, "Export CSV…", "Ctrl+E")
        self.export_json_action = _action(self, "Export JSON…", "Ctrl+Shift+E")
        self.organize_action = _action(self, "Organize…", "Ctrl+G",
                                       "Copy or move the classified images into a folder per label")
        self.undo_organize_action = _action(self, "Undo organize…", None,
                                            "Put back what Organize moved or copied into a folder")
        self.keywords_action = _action(self, "Write keywords…", "Ctrl+K",
                                       "Write the labels into XMP sidecars (photo.jpg.xmp)")
        self.retry_action = _action(self, "Retry failed", "Ctrl+R", "Send the failed images again")
        self.clear_action = QAction("Clear", self)
        self.settings_action = QAction("Settings…", self)
        for action in (self.add_folder_action, self.add_files_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        for action in (self.export_csv_action, self.export_json_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        for action in (self.organize_action, self.undo_organize_action, self.keywords_action, self.retry_action,
                       self.clear_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addAction(self.settings_action)

        self.banner = BannerView()
        self.status = StatusView()
        self.upload = UploadView()
        self.chart = ChartView()
        self.results = ResultsView()
        self.skipped = SkippedView()
        self.scaler = ScalerView()
        self.history = HistoryView()

        self.tabs = QTabWidget()
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.skipped, "Skipped")
        self.tabs.addTab(self.scaler, "Scaler")
        self.tabs.addTab(self.history, "History")

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.chart)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("main_splitter")
        self.splitter = splitter
        splitter.addWidget(top)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.banner)
        layout.addWidget(self.status)
        layout.addWidget(self.upload)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.results.table.setObjectName("results_table")
        self.skipped.table.setObjectName("skipped_table")
        self.history.table.setObjectName("history_table")
        self.statusBar().showMessage("Starting…")

    def set_tab_title(self, widget: QWidget, title: str) -> None:
        index = self.tabs.indexOf(widget)
        if self.tabs.tabText(index) != title:  # a new title relayouts the tab bar
            self.tabs.setTabText(index, title)

    # --- drop anywhere -----------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = local_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.paths_dropped.emit(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closing.emit()
        super().closeEvent(event)
