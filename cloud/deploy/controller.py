"""The controller: a small instance that runs `imgrec scaler` as a systemd service, for a deployment whose
autoscaler should not depend on anyone's laptop.

It boots from the worker image, where imgrec is installed (its worker never starts there: the worker
settings are never written), and its user data writes the scaler's settings, the same ones
``imgrec deploy`` writes into the user's config file, then installs and starts
``cloud/scaler/imgrec-scaler.service``, which imgrec ships as package data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud.deploy.settings import toml_lines

SCALER_CONFIG = "/etc/imgrec/scaler.toml"  # what imgrec-scaler.service runs `imgrec scaler --config` with
SCALER_UNIT = "imgrec-scaler.service"
SCALER_USER = "imgrec"  # the unit's User=


def user_data(settings: Mapping[str, Any]) -> str:
    """The controller's first-boot script, for these scaler settings."""
    lines = "\n".join(toml_lines(settings))
    locate_unit = (f"import pathlib, cloud.scaler; "
                   f"print(pathlib.Path(cloud.scaler.__file__).with_name({SCALER_UNIT!r}))")
    return f"""#!/bin/bash
# imgrec controller, first boot: the scaler's settings, then `imgrec scaler` as a systemd service.
set -eu
install -d -m 0755 /etc/imgrec
cat > {SCALER_CONFIG} <<'IMGREC_TOML'
{lines}
IMGREC_TOML
id {SCALER_USER} >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin {SCALER_USER}
unit=$(/opt/imgrec/.venv/bin/python -c "{locate_unit}")
install -m 0644 "$unit" /etc/systemd/system/{SCALER_UNIT}
systemctl daemon-reload
systemctl enable --now {SCALER_UNIT}
"""
