#!/bin/sh
# Starts the worker under its instance id (the scaler finds its status object by that name) and
# powers the instance off when the worker leaves on its own: after IMGREC_IDLE_TIMEOUT seconds
# without work, or on a crash. Instances launched by the scaler stop on shutdown, so a powered-off
# worker waits in the warm pool; nothing keeps running, and billing, if the scaler itself is gone.
set -u
IMDS=http://169.254.169.254/latest
token=$(curl -fsS -X PUT "$IMDS/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
instance_id=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/instance-id")

/opt/imgrec/.venv/bin/imgrec worker --worker-id "$instance_id" --idle-timeout "${IMGREC_IDLE_TIMEOUT:-300}"
status=$?

# During an instance stop systemd is already shutting down: leave it be.
if [ "$(systemctl is-system-running 2>/dev/null)" != "stopping" ]; then
    logger -t imgrec-worker "worker exited with status $status: powering off"
    systemctl poweroff
fi
exit "$status"
