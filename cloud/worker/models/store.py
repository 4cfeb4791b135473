"""Where model bundles live: a local cache, and the output bucket that a fleet of workers reads.

    ~/.cache/imgrec/models/<model>/<sha256>/{model.onnx, bundle.json}     (cfg.model_cache)
    s3://<output bucket>/models/<model>/bundle.json                          the published sidecar
    s3://<output bucket>/models/<model>/<sha256>.onnx                        the weights, by content

``imgrec model publish`` (and ``imgrec up``, the embedded cloud) put a bundle in the bucket; a worker
reads the sidecar at start, and downloads the ONNX file only when its cache lacks that hash. Changing
the model is a publish: no new worker image. A cache folder appears whole (written aside, verified,
then renamed), so one that has a sidecar has been verified and is not hashed again at every start.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from cloud.worker.models.bundle import (
    MANIFEST_FILE,
    BadBundle,
    Bundle,
    file_sha256,
    parse_manifest,
    read_bundle,
    write_manifest,
)
from cloud.worker.models.errors import ModelUnavailable
from shared.config import Config
from shared.layout import model_manifest_key, model_weights_key
from shared.s3 import ObjectMissing, S3Service

log = logging.getLogger(__name__)

MAX_BUNDLE_BYTES = 2 * 1024**3  # a sidecar that points at more than this is refused
PACKAGED_MODEL_DIR = "model"  # in a packaged app's data folder: the default model's bundle (build.spec)


def cache_root(cfg: Config) -> Path:
    if cfg.model_cache:
        return Path(cfg.model_cache).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "imgrec" / "models"


def _model_dir(cache: Path, model: str) -> Path:
    return cache / model_manifest_key(model).split("/")[1]  # the same safe name as in the bucket


# --- the local cache ---------------------------------------------------------------------------
def cached_bundle(cache: Path, model: str, sha256: str | None = None) -> Bundle | None:
    """The cached bundle of ``model`` with that hash, or the newest one when no hash is given."""
    folder = _model_dir(cache, model)
    if sha256 is not None:
        candidates = [folder / sha256]
    else:
        candidates = sorted((p for p in folder.glob("*") if not p.name.startswith(".")),
                            key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
    for candidate in candidates:
        if (candidate / MANIFEST_FILE).is_file():
            try:
                bundle = read_bundle(candidate, verify=False)
            except BadBundle as exc:
                log.warning("ignoring a damaged cached bundle: %s", exc)
                continue
            if bundle.model == model and bundle.sha256 == candidate.name:
                return bundle
    return None


def packaged_bundle(model: str) -> Bundle | None:
    """The bundle that a packaged app carries, read in place, when it is ``model``'s; None from source."""
    root = getattr(sys, "_MEIPASS", None)  # set by PyInstaller: the bundle's data folder
    folder = Path(root) / PACKAGED_MODEL_DIR if root else None
    if folder is None or not (folder / MANIFEST_FILE).is_file():
        return None
    bundle = read_bundle(folder, verify=False)  # the workers check the hash of what they download
    return bundle if bundle.model == model else None


def can_export() -> bool:
    """Whether this environment has what an export needs (the ``export`` extra: torch, timm, ...)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("torch", "timm", "torchvision"))
    except ImportError:  # an import hook that forbids them
        return False


def local_bundle(cfg: Config, model: str | None = None, *, fresh: bool = False,
                 check_images: Sequence[Path] | None = None, in_child: bool = False) -> Bundle:
    """The cached bundle of the model (or the one a packaged app carries), exported into the cache first
    if there is none (needs torch).
    ``fresh``: export again even if one is cached; ``check_images``: what the export is checked on;
    ``in_child``: export in a child process (``imgrec model export``), so that this process never
    imports torch (the desktop app runs the embedded cloud in its own process)."""
    model = model or cfg.model
    cache = cache_root(cfg)
    found = None if fresh else cached_bundle(cache, model) or packaged_bundle(model)
    if found is not None:
        return found
    if not can_export():
        raise ModelUnavailable(
            f"no bundle for model {model!r}: none is published in the output bucket and none is cached in "
            f"{cache}. Publish one with `imgrec model publish --model {model}` from an environment with the "
            "export extra (pip install 'imgrec[export]'), or run this with --engine torch there")
    if in_child:
        from cloud.worker.process import export_in_child

        export_in_child(cfg.replace(model=model))
        exported = cached_bundle(cache, model)
        if exported is None:
            raise ModelUnavailable(f"the export of {model} left no bundle in {cache}")
        return exported
    from cloud.worker.models.export import export_bundle

    folder = _model_dir(cache, model)
    log.info("exporting %s to the model cache %s (once)", model, folder)
    staging = folder / f".export-{os.getpid()}"
    bundle = export_bundle(model, staging, check_images)
    final = folder / bundle.sha256
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    final.touch()  # the newest export is the one cached_bundle picks
    return bundle.at(final)


def publish_model(cfg: Config, s3: S3Service | None = None) -> Bundle:
    """Makes cfg.model available to the fleet: the cached bundle (exported first, in a child process,
    if there is none) published to the output bucket. What ``imgrec up`` and the embedded cloud do."""
    bundle = local_bundle(cfg, in_child=True)
    publish(s3 or S3Service(cfg), cfg.output_bucket, bundle)
    return bundle


# --- the bucket --------------------------------------------------------------------------------
def publish(s3: S3Service, bucket: str, bundle: Bundle) -> str:
    """Uploads the weights (unless that hash is already there), then the sidecar; returns its s3:// URL."""
    weights = model_weights_key(bundle.model, bundle.sha256)
    try:
        s3.client.head_object(Bucket=bucket, Key=weights)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        s3.client.upload_file(str(bundle.onnx_path), bucket, weights)
    manifest = model_manifest_key(bundle.model)
    s3.put_json(bucket, manifest, bundle.manifest())
    return f"s3://{bucket}/{manifest}"


def published_manifest(s3: S3Service, bucket: str, model: str) -> Bundle | None:
    """The sidecar published for ``model``, checked, or None when nothing is published."""
    key = model_manifest_key(model)
    try:
        data = s3.get_json(bucket, key, denied_is_missing=True)
    except ObjectMissing:
        return None
    except ValueError:
        raise BadBundle(f"model bundle s3://{bucket}/{key}: the sidecar is not JSON") from None
    bundle = parse_manifest(data, f"s3://{bucket}/{key}")
    if bundle.model != model:
        raise BadBundle(f"model bundle s3://{bucket}/{key} is for {bundle.model!r}, not {model!r}")
    return bundle


def fetch(s3: S3Service, bucket: str, model: str, cache: Path) -> Bundle | None:
    """The published bundle of ``model``, from the cache or downloaded into it; None if none is published."""
    try:
        published = published_manifest(s3, bucket, model)
    except (ClientError, BotoCoreError) as exc:
        raise ModelUnavailable(f"could not read the model bundle from s3://{bucket}: {exc}") from exc
    if published is None:
        return None
    cached = cached_bundle(cache, model, published.sha256)
    if cached is not None:
        return cached
    folder = _model_dir(cache, model)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".fetch-"))
    key = model_weights_key(model, published.sha256)
    try:
        size = s3.client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if size > MAX_BUNDLE_BYTES:
            raise BadBundle(f"s3://{bucket}/{key} is {size} bytes, over the {MAX_BUNDLE_BYTES}-byte limit")
        draft = published.at(staging)
        s3.client.download_file(bucket, key, str(draft.onnx_path))
        if file_sha256(draft.onnx_path) != published.sha256:
            raise BadBundle(f"s3://{bucket}/{key} does not match the sha256 its sidecar gives")
        write_manifest(draft, staging)
        final = folder / published.sha256
        if not final.exists():
            staging.rename(final)
        log.info("fetched model bundle %s (%s) into %s", model, published.sha256[:12], final)
        return published.at(final)
    except (ClientError, BotoCoreError) as exc:
        raise ModelUnavailable(f"could not download the model from s3://{bucket}/{key}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
