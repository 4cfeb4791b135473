"""`imgrec ami`: the worker image.

* ``imgrec ami user-data`` prints the user data a worker instance boots with (the fleet passes the
  same text when it launches; paste it into a launch template for the asg fleet).
* ``imgrec ami bake`` makes the worker image from a stock Amazon Linux 2023 instance and prints
  its id, to set as ``ami_id``. It runs against whatever target is configured: the embedded moto
  server (``--endpoint``) or AWS.
"""

from __future__ import annotations

import sys

from cloud.ami.user_data import user_data
from shared.config import Config


def ami(cfg: Config, args) -> int:
    action = getattr(args, "action", "user-data")
    if action == "user-data":
        sys.stdout.write(user_data(cfg))
        return 0
    from cloud.ami.bake import bake

    image = bake(cfg, say=lambda line: print(line, file=sys.stderr))
    print(image)
    print(f"worker image ready: set ami_id = \"{image}\" in the [scaler] section of your config "
          f"(or IMGREC_AMI_ID={image})", file=sys.stderr)
    return 0
