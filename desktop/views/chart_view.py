"""A live chart of the queue (visible, in flight) and the fleet (running, booting) over the last minutes."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QMargins, QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

WINDOW_SECONDS = 300  # the last five minutes

# name, axis ("messages" left, "workers" right), colour, dashed
SERIES = (
    ("Visible", "messages", "#1f77b4", False),
    ("In flight", "messages", "#ff7f0e", False),
    ("Running", "workers", "#2ca02c", False),
    ("Booting", "workers", "#9467bd", True),
)


class ChartView(QChartView):
    def __init__(self, parent: QWidget | None = None):
        chart = QChart()
        chart.setTitle("Queue and workers, last 5 minutes")
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.setMargins(QMargins(4, 4, 4, 4))
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(220)

        self.x_axis = QValueAxis()
        self.x_axis.setRange(-WINDOW_SECONDS, 0)
        self.x_axis.setLabelFormat("%d s")
        self.x_axis.setTickCount(6)
        self.messages_axis = QValueAxis()
        self.messages_axis.setTitleText("messages")
        self.messages_axis.setLabelFormat("%d")
        self.workers_axis = QValueAxis()
        self.workers_axis.setTitleText("workers")
        self.workers_axis.setLabelFormat("%d")
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.messages_axis, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(self.workers_axis, Qt.AlignmentFlag.AlignRight)

        self.series: dict[str, QLineSeries] = {}
        for name, axis, colour, dashed in SERIES:
            series = QLineSeries()
            series.setName(name)
            pen = QPen(QColor(colour))
            pen.setWidthF(2.0)
            if dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            series.setPen(pen)
            chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(self.messages_axis if axis == "messages" else self.workers_axis)
            self.series[name] = series
        self._set_ranges(0, 0)

    def show_points(self, points: dict[str, Sequence[tuple[float, float]]]) -> None:
        """Each series' (seconds ago as a negative number, value) points; replaces what was shown."""
        top_messages = top_workers = 0.0
        for name, values in points.items():
            self.series[name].replace([QPointF(x, y) for x, y in values])
            peak = max((y for _, y in values), default=0.0)
            if name in ("Visible", "In flight"):
                top_messages = max(top_messages, peak)
            else:
                top_workers = max(top_workers, peak)
        self._set_ranges(top_messages, top_workers)

    def _set_ranges(self, top_messages: float, top_workers: float) -> None:
        self.messages_axis.setRange(0, _nice(top_messages, 10))
        self.messages_axis.setTickCount(6)
        if top_workers <= 8:  # a tick per worker
            top = max(4, math.ceil(top_workers))
            self.workers_axis.setRange(0, top)
            self.workers_axis.setTickCount(top + 1)
        else:
            self.workers_axis.setRange(0, _nice(top_workers, 4))
            self.workers_axis.setTickCount(6)


def _nice(value: float, floor: float) -> float:
    """An axis top at or above ``value``: 1, 2 or 5 times a power of ten, at least ``floor``."""
    if value <= floor:
        return floor
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude
