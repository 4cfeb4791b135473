"""``python -m cloud.worker [options]``: the same as ``imgrec worker [options]``."""

import sys

from cloud.cli import main

sys.exit(main(["worker", *sys.argv[1:]]))
