"""The worker image: baked by ``imgrec ami bake`` (``bake.py``, ``builder.sh``), installed by
``install-worker.sh``, booted by cron (``imgrec-worker.cron``, ``imgrec-worker.sh``) with the settings
that the user data writes (``user_data.py``)."""

ARCHES = ("x86_64", "arm64")  # ONNX Runtime has wheels for both; Graviton (arm64) is cheaper per core
