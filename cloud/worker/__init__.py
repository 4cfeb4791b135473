"""The classifier worker: model registry, decoding with guards, ``imgrec predict`` and ``imgrec worker``.

OpenMP threads that spin while they wait for work (the default ACTIVE wait policy) burn the CPU
that a worker's own I/O threads (and, locally, the moto server) need; on a 2-core machine under
that load, batched inference measured about 1.5x faster with PASSIVE. It must be set before torch
is first imported, hence here; a value already in the environment wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
