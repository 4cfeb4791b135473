"""Workarounds for reference-count bugs in PySide6 6.12.0, applied once on import (desktop.tasks imports
this, and every part of the app that uses Qt imports desktop.tasks).

Some calls return a singleton without taking a reference for it, and the caller's release of the
return value then takes one of the singleton's own:

- ``SignalInstance.emit`` returns ``True`` so: every signal emitted from Python (a task's
  ``finished``, a thumbnail's ``ready``, a model's ``dataChanged``) costs True one reference;
- ``QModelIndex.data`` and ``QPersistentModelIndex.data`` return ``None`` so when the model has no
  value for the role.

On Python 3.11, where True and None are ordinary objects with counts in the thousands, a few thousand
such calls (scrolling through a gallery of thumbnails) make the interpreter abort with "bool_dealloc"
or "none_dealloc". Each fix gives the reference back, and only where a probe at import sees the bug,
so a PySide6 that counts correctly is left alone.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QStringListModel,
    Qt,
    Signal,
    SignalInstance,
)

PROBE_CALLS = 64

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


class _Probe(QObject):
    fired = Signal()


def drops_a_reference(call: Callable[[], object], returned: object) -> bool:
    """Whether ``call()`` costs ``returned`` (the singleton it gives back) a reference."""
    before = sys.getrefcount(returned)
    for _ in range(PROBE_CALLS):
        call()
    return before - sys.getrefcount(returned) >= PROBE_CALLS // 2  # a correct call: about 0


def _giving_back(method, singleton: object):
    def method_keeping_counts(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        if result is singleton:
            _incref(result)  # the reference the original did not take
        return result

    method_keeping_counts.__doc__ = method.__doc__
    return method_keeping_counts


def _apply() -> list[str]:
    probe = _Probe()
    model = QStringListModel(["probe"])
    index = model.index(0, 0)
    persistent = QPersistentModelIndex(index)
    no_role = Qt.ItemDataRole.DecorationRole  # a list of strings has no decoration
    fixes = [
        (SignalInstance, "emit", True, lambda: probe.fired.emit()),
        (QModelIndex, "data", None, lambda: index.data(no_role)),
        (QPersistentModelIndex, "data", None, lambda: persistent.data(no_role)),
    ]
    applied = []
    for owner, name, singleton, call in fixes:
        if drops_a_reference(call, singleton):
            setattr(owner, name, _giving_back(getattr(owner, name), singleton))
            applied.append(f"{owner.__name__}.{name}")
    return applied


APPLIED = _apply()
