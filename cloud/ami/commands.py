"""`imgrec ami`: the worker image.

* ``imgrec ami user-data`` prints the user data a worker instance boots with (the fleet passes the
  same text when it launches; paste it into a launch template for the asg fleet).
* ``imgrec ami bake [--arch x86_64|arm64] [--gpu] ...`` makes the worker image and prints its id, to
  set as ``ami_id``. It runs against whatever target is configured: the embedded moto server
  (``--endpoint``) or AWS. When the builder fails, it prints the builder's console output and exits 1.
"""

from __future__ import annotations

import sys

from cloud.ami.user_data import user_data
from shared import aws
from shared.config import Config


def ami(cfg: Config, args) -> int:
    action = getattr(args, "action", "user-data")
    cfg = aws.with_account_defaults(cfg)  # on AWS: the buckets named after the account, as the workers need
    if action == "user-data":
        sys.stdout.write(user_data(cfg))
        return 0
    from cloud.ami.bake import ROOT_VOLUME_GIB, BakeFailed, BakeOptions, bake
    from cloud.worker.models.errors import ModelError

    options = BakeOptions(arch=getattr(args, "arch", None) or "x86_64", gpu=bool(getattr(args, "gpu", False)),
                          volume_gib=getattr(args, "volume_gib", None) or ROOT_VOLUME_GIB,
                          instance_type=getattr(args, "builder_instance_type", None),
                          builder_profile=getattr(args, "builder_profile", None))
    try:
        image = bake(cfg, options, say=lambda line: print(line, file=sys.stderr, flush=True))
    except BakeFailed as exc:
        print(exc.report(), file=sys.stderr)
        return 1
    except ModelError as exc:
        print(f"imgrec ami bake: {exc}", file=sys.stderr)
        return 2
    print(image)
    print(f"worker image ready: set ami_id = \"{image}\" in the [scaler] section of your config "
          f"(or IMGREC_AMI_ID={image})", file=sys.stderr)
    return 0
