"""``python -m cloud.worker [options]``: the same as ``imgrec worker [options]``.

Once the worker has stopped (results published, status written, logs flushed), the process ends
with ``os._exit``: the interpreter's own teardown of torch takes seconds, and a supervisor waiting
for the exit (scale-in, shutdown) has no use for them.
"""

import logging
import os
import sys

from cloud.cli import main

code = main(["worker", *sys.argv[1:]])
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
