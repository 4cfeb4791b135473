#!/bin/bash
# The worker's boot script (the original design's pystart.sh). cron starts it at every boot, from the
# @reboot entry in /etc/cron.d/imgrec-worker: the first launch and every restart from the warm pool.
#
#   1. It waits for the settings that the user data writes at first boot (/etc/imgrec/worker.env).
#   2. It reads the instance id from IMDS (IMDSv2 token; curl retries with backoff): the scaler
#      finds the worker's status object by that name.
#   3. In an Auto Scaling group (IMDS has autoscaling/target-lifecycle-state), it waits until the
#      group puts the instance InService: an instance being readied for the warm pool never polls.
#   4. It runs the worker under that id, logging to /var/log/imgrec/ (boot.log: this script;
#      worker.log: the worker). The worker watches IMDS for a spot interruption notice and drains.
#   5. When the worker leaves on its own (its idle timeout, a crash, a spot notice), it powers the
#      instance off: instances launched by the scaler stop on shutdown and wait in the warm pool, and
#      nothing runs, or bills, unwatched when the scaler is gone. Not in an Auto Scaling group: the
#      group would count a stopped instance unhealthy and replace it, forever. There the worker never
#      idles out (scale-in is the scaler setting the desired capacity), and after a crash it is
#      started again, with a growing pause, until the group takes the instance away.
#
# An instance stop or termination is an OS shutdown: systemd sends every process SIGTERM and waits
# up to 90 s. The worker drains (finishes the batch in hand, gives the rest back) and this script
# leaves without powering anything off. It forwards no signal: a second SIGTERM would make the
# worker exit at once instead of draining.
#
# Installed by install-worker.sh as /opt/imgrec/bin/imgrec-worker.sh. Every path is found from where
# the script is, so a copy staged with `install-worker.sh --root DIR` runs against DIR's files.
# IMGREC_BOOT_POLL_SECONDS (from the environment) sets how often it looks again while waiting.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${here%/opt/imgrec/bin}  # empty when installed in /
env_file=$root/etc/imgrec/worker.env
log_dir=$root/var/log/imgrec
console=$root/dev/console
worker=$root/opt/imgrec/.venv/bin/imgrec
poll=${IMGREC_BOOT_POLL_SECONDS:-5}
PATH=$PATH:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

IMDS_TOKEN_TTL_SECONDS=300
IMDS_RETRY_SECONDS=120     # curl retries a failing IMDS call, with backoff, for up to this long
RESTART_FIRST_SECONDS=5    # in a group, the pause before the first restart after a crash...
RESTART_LONGEST_SECONDS=300  # ... doubling up to this
RESTART_RESET_SECONDS=600  # a worker that ran this long resets the pause

mkdir -p "$log_dir"
exec >>"$log_dir/boot.log" 2>&1

say() {  # a line in boot.log, and on the console, where GetConsoleOutput shows it to the scaler
    local line
    line="$(date -u +%Y-%m-%dT%H:%M:%SZ) imgrec-worker: $*"
    echo "$line"
    if [ -w "$console" ]; then echo "$line" >>"$console"; fi
}

stopping=0
worker_pid=
on_signal() {
    stopping=1
    if [ -z "$worker_pid" ]; then
        say "shutting down before the worker started"
        exit 0
    fi
}
trap on_signal TERM INT

# --- 1. the settings -----------------------------------------------------------------------------
if [ ! -s "$env_file" ]; then
    say "waiting for $env_file (the user data writes it at first boot)"
    while [ ! -s "$env_file" ]; do sleep "$poll"; done
fi
set -a
# shellcheck source=/dev/null
. "$env_file"
set +a
imds=${IMGREC_IMDS_ENDPOINT:-http://169.254.169.254}
export IMGREC_IMDS_ENDPOINT=$imds  # the worker watches it for a spot interruption notice

# --- 2. IMDS -------------------------------------------------------------------------------------
imds_curl() {
    curl -fsS --connect-timeout 2 --max-time 5 --retry 10 --retry-connrefused \
        --retry-max-time "$IMDS_RETRY_SECONDS" "$@"
}

# imds_get PATH: the value under latest/meta-data/PATH. Exit status 22: IMDS has no such item (404).
imds_get() {
    local token
    token=$(imds_curl -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: $IMDS_TOKEN_TTL_SECONDS" \
        "$imds/latest/api/token") || return
    imds_curl -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1"
}

instance_id=$(imds_get instance-id)
if [ -z "$instance_id" ]; then
    # Without its id the worker's status could never be found. Nothing is started, and the instance
    # is not powered off either: it could be a member of an Auto Scaling group.
    say "could not read the instance id from IMDS at $imds: the worker is not started"
    exit 1
fi

# --- 3. an Auto Scaling group? -------------------------------------------------------------------
lifecycle=$(imds_get autoscaling/target-lifecycle-state)
case $? in
    0) in_group=1 ;;
    22) in_group=0 ;;
    *)  # IMDS answered the id but not this: assume a group, the one case where powering off is wrong
        say "could not read autoscaling/target-lifecycle-state from IMDS: acting as in an Auto Scaling group"
        in_group=1 lifecycle=InService ;;
esac

if [ "$in_group" = 1 ]; then
    if [ "$lifecycle" != InService ]; then
        say "$instance_id is in an Auto Scaling group, target state $lifecycle: waiting for InService"
    fi
    while [ "$lifecycle" != InService ]; do
        if [ "$lifecycle" = Terminated ]; then
            say "the group is terminating $instance_id: the worker is not started"
            exit 0
        fi
        sleep "$poll"
        lifecycle=$(imds_get autoscaling/target-lifecycle-state) || lifecycle=unknown
    done
    idle_timeout=0  # scale-in is the scaler setting the desired capacity
else
    idle_timeout=${IMGREC_IDLE_TIMEOUT:-300}
fi

# --- 4. the worker -------------------------------------------------------------------------------
restarts=0
while :; do
    started=$(date +%s)
    say "starting the worker $instance_id (idle timeout ${idle_timeout} s; log $log_dir/worker.log)"
    "$worker" worker --worker-id "$instance_id" --idle-timeout "$idle_timeout" >>"$log_dir/worker.log" 2>&1 &
    worker_pid=$!
    while :; do
        wait "$worker_pid"
        status=$?
        kill -0 "$worker_pid" 2>/dev/null || break  # still running: a signal interrupted the wait
    done
    worker_pid=
    ran=$(($(date +%s) - started))

    if [ "$stopping" = 1 ] || [ "$(systemctl is-system-running 2>/dev/null)" = stopping ]; then
        say "the worker exited with status $status during shutdown"
        exit 0
    fi
    say "the worker exited on its own with status $status after $ran s"
    if [ "$status" != 0 ]; then
        tail -n 20 "$log_dir/worker.log" | while IFS= read -r line; do say "worker.log: $line"; done
    fi

    # --- 5. power off, or (in a group) start it again ------------------------------------------
    if [ "$in_group" = 0 ]; then
        say "powering off"
        poweroff
        exit "$status"
    fi
    lifecycle=$(imds_get autoscaling/target-lifecycle-state) || lifecycle=unknown
    if [ "$lifecycle" = Terminated ]; then
        say "the group is terminating $instance_id: the worker is not started again"
        exit "$status"
    fi
    if [ "$ran" -ge "$RESTART_RESET_SECONDS" ]; then restarts=0; fi
    restarts=$((restarts + 1))
    pause=$RESTART_FIRST_SECONDS
    for ((i = 1; i < restarts && pause < RESTART_LONGEST_SECONDS; i++)); do pause=$((pause * 2)); done
    if [ "$pause" -gt "$RESTART_LONGEST_SECONDS" ]; then pause=$RESTART_LONGEST_SECONDS; fi
    say "in an Auto Scaling group: not powering off; starting the worker again in $pause s"
    sleep "$pause"
done
