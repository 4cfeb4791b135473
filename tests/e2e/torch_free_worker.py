"""``imgrec worker ARGS`` in a process where torch, torchvision and timm cannot be imported at all.

An import of any of them raises at once, so a worker that needs torch fails instead of passing by
luck; at exit the process checks that none of them is in ``sys.modules`` and says so on stderr.
"""

import importlib.abc
import os
import sys

BLOCKED = ("torch", "torchvision", "timm")


class _Forbid(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (this worker must run without torch)")
        return None


sys.meta_path.insert(0, _Forbid())
from cloud.cli import main  # noqa: E402

code = main(["worker", *sys.argv[1:]])
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(f"torch-free worker exiting with {code}; heavy modules imported: {leaked or 'none'}", file=sys.stderr)
sys.stderr.flush()
os._exit(code if not leaked else 3)
