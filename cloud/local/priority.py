"""How the local cloud's processes are started beside a window: in a session of their own, niced.

On a small machine the workers' batched inference, the moto server and the uploads would otherwise take
the cores from the desktop app's GUI thread, which must answer within 50 ms while they work
(bench/gui_latency.py).

Niceness alone is not enough on Linux, where the scheduler shares the CPU between session groups
("autogroups") first and between the processes of a group second: a child in the window's session
spends the window's share, however nice it is (measured: event-loop stalls of 300 ms with CPU-bound
children in the window's group, under 10 ms without). So each heavy child is started in a session of
its own and at a lower priority, by :func:`shared.children.spawn`, in every mode (``imgrec up``, the app
with its own scaler or an external one, ``imgrec scaler --fleet local``): never reniced after the fact.
"""

from __future__ import annotations

from dataclasses import dataclass

WORKER_NICENESS = 10  # local classifier workers (the window stays at 0)
BACKGROUND_NICENESS = 5  # the embedded moto server and the desktop's job helper


@dataclass(frozen=True)
class SpawnOptions:
    """The keyword arguments of :func:`shared.children.spawn` that protect the window."""

    session: bool
    niceness: int


WORKERS = SpawnOptions(session=True, niceness=WORKER_NICENESS)
BACKGROUND = SpawnOptions(session=True, niceness=BACKGROUND_NICENESS)
