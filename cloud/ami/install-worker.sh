#!/bin/bash
# Installs the imgrec classifier worker on an Amazon Linux 2023 machine: what `imgrec ami bake` runs on
# its builder instance before the image is captured.
#
#   install-worker.sh [--root DIR] [--src DIR] [--gpu] [--no-venv]
#
#   --root DIR  install under DIR instead of / (a staging folder): the files only; nothing on this
#               machine changes (no packages, no services)
#   --src DIR   the imgrec source to install (pyproject.toml, shared/, cloud/); default: the tree that
#               holds this script
#   --gpu       ONNX Runtime's CUDA build (onnxruntime-gpu) instead of the CPU one
#   --no-venv   skip the Python environment
#
# What it installs, under the root:
#   opt/imgrec/.venv/                   imgrec[worker]: ONNX Runtime, numpy, Pillow, boto3; no torch
#   opt/imgrec/bin/imgrec-worker.sh     the boot script (0755)
#   etc/cron.d/imgrec-worker            @reboot root /opt/imgrec/bin/imgrec-worker.sh (0644)
#   etc/imgrec/                         where the user data writes worker.env at first boot
#   var/log/imgrec/                     the boot script's and the worker's logs
# and, on the machine itself (root /): Python 3.11 and cronie from dnf, crond enabled.
set -euo pipefail

usage() {
    echo "usage: install-worker.sh [--root DIR] [--src DIR] [--gpu] [--no-venv]" >&2
    exit 2
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=/
src=$(cd "$here/../.." && pwd)
gpu=0
venv=1
while [ $# -gt 0 ]; do
    case $1 in
        --root) [ $# -ge 2 ] || usage; root=$2; shift 2 ;;
        --src) [ $# -ge 2 ] || usage; src=$2; shift 2 ;;
        --gpu) gpu=1; shift ;;
        --no-venv) venv=0; shift ;;
        -h | --help) usage ;;
        *) echo "install-worker.sh: unknown option $1" >&2; usage ;;
    esac
done
if [ "$root" != / ]; then
    mkdir -p "$root"
    root=$(cd "$root" && pwd)
fi
prefix=${root%/}  # empty for /
files=$src/cloud/ami
for name in imgrec-worker.sh imgrec-worker.cron; do
    [ -f "$files/$name" ] || { echo "install-worker.sh: $files/$name is missing (--src?)" >&2; exit 1; }
done

if [ -z "$prefix" ]; then
    dnf install -y python3.11 python3.11-pip cronie
fi

install -d -m 0755 "$prefix/opt/imgrec/bin" "$prefix/etc/imgrec" "$prefix/etc/cron.d" "$prefix/var/log/imgrec"
install -m 0755 "$files/imgrec-worker.sh" "$prefix/opt/imgrec/bin/imgrec-worker.sh"
install -m 0644 "$files/imgrec-worker.cron" "$prefix/etc/cron.d/imgrec-worker"

if [ "$venv" = 1 ]; then
    python=python3.11
    command -v "$python" >/dev/null || python=python3
    # pip unpacks into TMPDIR: on Amazon Linux 2023 /tmp is a tmpfs of half the memory, /var/tmp is on disk.
    export TMPDIR=${TMPDIR:-/var/tmp}
    "$python" -m venv "$prefix/opt/imgrec/.venv"
    pip=("$prefix/opt/imgrec/.venv/bin/pip" --disable-pip-version-check --no-cache-dir)
    "${pip[@]}" install "${src}[worker]"
    if [ "$gpu" = 1 ]; then
        # The same onnxruntime module, built with CUDA: the worker's device "auto" then uses the GPU.
        "${pip[@]}" uninstall -y onnxruntime
        "${pip[@]}" install onnxruntime-gpu
    fi
fi

if [ -z "$prefix" ]; then
    systemctl enable crond.service
fi
echo "install-worker.sh: installed the imgrec worker under $root"
