# The body of the worker image builder's user data (`imgrec ami bake`). bake.py puts a header before it:
# the shebang and the settings below, each a presigned URL or a plain value, so the builder needs no
# AWS credentials of its own.
#
#   SOURCE_URL     GET: the imgrec source (tar.gz with imgrec/pyproject.toml, shared/, cloud/, samples/)
#   MANIFEST_URL   GET: the published model bundle's sidecar (bundle.json)
#   WEIGHTS_URL    GET: its ONNX file
#   MODEL, MODEL_DIR, MODEL_SHA256   the model's name, its folder in a model cache, the ONNX file's hash
#   SMOKE_IMAGE, SMOKE_LABEL, SMOKE_DEVICE   the smoke test: this image must get this label in its top 5
#   INSTALL_OPTIONS  extra options for install-worker.sh (--gpu)
#   STATUS_URL     PUT, as text/plain: where the outcome goes ("ok" or "failed", then the tail of this log)
#
# Steps: fetch the source, run install-worker.sh (the worker, its boot script and cron entry), classify
# the sample image with the installed worker and the published model, clean up, report, power off.
# On any failure a trap reports "failed" (a tag imgrec:bake=failed on this instance, when its instance
# profile allows ec2:CreateTags, and the status object, which needs nothing), prints where it failed to
# the console, and powers off; `imgrec ami bake` sees it within seconds and prints the console output.
# shellcheck shell=bash disable=SC2154  # the settings come from the header
set -Eeuo pipefail

IMDS=http://169.254.169.254/latest
BUILD=/var/tmp/imgrec-build  # on the root volume: /tmp is a tmpfs of half the memory on Amazon Linux 2023
LOG=/var/log/imgrec-bake.log
export TMPDIR=$BUILD/tmp PIP_NO_CACHE_DIR=1
mkdir -p "$TMPDIR"
exec > >(tee -a "$LOG") 2>&1  # cloud-init sends the user data's output to the console as well

imds() {
    local token
    token=$(curl -fsS --retry 5 --retry-connrefused -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" \
        "$IMDS/api/token") || return
    curl -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/$1"
}

report() {  # report ok|failed
    local outcome=$1 id region
    id=$(imds instance-id) || id=
    region=$(imds placement/region) || region=
    if [ -n "$id" ] && command -v aws >/dev/null; then
        aws ec2 create-tags --region "$region" --resources "$id" --tags "Key=imgrec:bake,Value=$outcome" ||
            echo "imgrec-bake: could not tag $id (an instance profile with ec2:CreateTags allows it)"
    fi
    { echo "$outcome"; tail -n 200 "$LOG" 2>/dev/null || true; } |
        curl -fsS --retry 5 -X PUT -H "Content-Type: text/plain" --data-binary @- "$STATUS_URL" ||
        echo "imgrec-bake: could not write the status object"
}

failed() {
    local status=$? line=$1 command=$2
    trap - ERR
    set +e
    echo "imgrec-bake: FAILED (exit status $status) at line $line: $command"
    report failed
    poweroff
    exit "$status"
}
trap 'failed "$LINENO" "$BASH_COMMAND"' ERR

echo "imgrec-bake: fetching the imgrec source"
curl -fsS --retry 5 -o "$BUILD/src.tar.gz" "$SOURCE_URL"
tar -xzf "$BUILD/src.tar.gz" -C "$BUILD"

echo "imgrec-bake: installing the worker"
# shellcheck disable=SC2086  # INSTALL_OPTIONS is a list of options
bash "$BUILD/imgrec/cloud/ami/install-worker.sh" --src "$BUILD/imgrec" $INSTALL_OPTIONS

echo "imgrec-bake: smoke test: the installed worker classifies $SMOKE_IMAGE with $MODEL"
cache=$BUILD/models
mkdir -p "$cache/$MODEL_DIR"
curl -fsS --retry 5 -o "$cache/$MODEL_DIR/bundle.json" "$MANIFEST_URL"
curl -fsS --retry 5 -o "$cache/$MODEL_DIR/model.onnx" "$WEIGHTS_URL"
echo "$MODEL_SHA256  $cache/$MODEL_DIR/model.onnx" | sha256sum -c -
IMGREC_MODEL_CACHE=$cache /opt/imgrec/.venv/bin/imgrec predict --engine onnx --device "$SMOKE_DEVICE" \
    --model "$MODEL" "$BUILD/imgrec/$SMOKE_IMAGE" --out "$BUILD/smoke.csv"
/opt/imgrec/.venv/bin/python - "$BUILD/smoke.csv" "$SMOKE_LABEL" <<'PY'
import csv
import sys

row = next(csv.DictReader(open(sys.argv[1], newline="")))
top5 = row["top5"].split("|")
print(f"imgrec-bake: smoke test: {row['label']} ({row['score']}); top 5: {', '.join(top5)}")
if row["error"] or sys.argv[2] not in top5:
    sys.exit(f"imgrec-bake: smoke test failed: {sys.argv[2]!r} is not in the top 5 ({row['error']})")
PY

echo "imgrec-bake: done: the image holds no model (workers fetch the published bundle when they start)"
report ok
rm -rf "$BUILD" "$LOG"
cloud-init clean --logs
poweroff
