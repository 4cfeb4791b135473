"""build.spec runs (with PyInstaller's names stubbed): version from pyproject, one folder, torch kept out."""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _run_spec() -> tuple[dict, dict]:
    """Executes build.spec with stand-ins for PyInstaller's Analysis, PYZ, EXE and COLLECT."""
    calls: dict[str, dict] = {}

    def stand_in(kind):
        def call(*args, **kwargs):
            calls[kind] = kwargs
            return SimpleNamespace(pure=[], scripts=[], binaries=[], datas=kwargs.get("datas", []))
        return call

    namespace = {"SPECPATH": str(ROOT)}
    namespace.update({kind: stand_in(kind) for kind in ("Analysis", "PYZ", "EXE", "COLLECT")})
    exec(compile((ROOT / "build.spec").read_text(), "build.spec", "exec"), namespace)
    return namespace, calls


def test_spec_builds_one_folder_named_with_the_project_version_without_torch(monkeypatch):
    monkeypatch.delenv("IMGREC_ONEFILE", raising=False)
    namespace, calls = _run_spec()
    assert namespace["VERSION"] == PROJECT["version"]
    assert calls["COLLECT"]["name"] == f"imgrec-desktop-{PROJECT['version']}"  # one folder
    assert calls["EXE"]["exclude_binaries"] is True
    assert {"torch", "torchvision", "timm"} <= set(calls["Analysis"]["excludes"])
    assert calls["Analysis"]["datas"] and all(Path(src).is_file() for src, _ in calls["Analysis"]["datas"])
    # The bundle is built from the desktop extra, which must not pull torch.
    desktop_extra = PROJECT["optional-dependencies"]["desktop"]
    assert not [d for d in desktop_extra if d.lower().startswith(("torch", "timm"))]
