"""build.spec runs (with PyInstaller's names stubbed): version from pyproject, one folder, torch kept out,
the model bundle carried where the packaged app looks for it, every child role's module listed."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from types import ModuleType, SimpleNamespace

from cloud.worker.models.store import PACKAGED_MODEL_DIR
from shared.children import ROLES

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _hooks_stand_in() -> ModuleType:
    """PyInstaller.utils.hooks, whose collectors list a package's modules (by its source files here)."""
    hooks = ModuleType("PyInstaller.utils.hooks")

    def collect_submodules(package, filter=lambda _name: True):  # noqa: A002 - PyInstaller's name
        base = ROOT / package
        names = [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                 for p in base.rglob("*.py")] if base.is_dir() else []
        return [name for name in names if filter(name)]

    hooks.collect_submodules = collect_submodules
    hooks.collect_data_files = lambda _package: []
    hooks.copy_metadata = lambda _name: []
    return hooks


def _run_spec(monkeypatch, tmp_path) -> tuple[dict, dict]:
    """Executes build.spec with stand-ins for PyInstaller's Analysis, PYZ, EXE, COLLECT and hooks, and an
    exported model bundle of two empty files."""
    bundle = tmp_path / "model-bundle"
    bundle.mkdir()
    (bundle / "bundle.json").write_text("{}")
    (bundle / "model.onnx").write_bytes(b"")
    monkeypatch.setenv("IMGREC_MODEL_BUNDLE", str(bundle))
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", _hooks_stand_in())
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


def test_spec_builds_one_folder_named_with_the_project_version_without_torch(monkeypatch, tmp_path):
    monkeypatch.delenv("IMGREC_ONEFILE", raising=False)
    namespace, calls = _run_spec(monkeypatch, tmp_path)
    assert namespace["VERSION"] == PROJECT["version"]
    assert calls["COLLECT"]["name"] == "imgrec-desktop"  # one folder: dist/imgrec-desktop/
    assert calls["EXE"]["exclude_binaries"] is True
    excludes = set(calls["Analysis"]["excludes"])
    assert {"torch", "torchvision", "timm"} <= excludes
    hidden = set(calls["Analysis"]["hiddenimports"])
    assert not hidden & excludes
    # A child is its role's module run by name: each is in the bundle (the worker's package runs its __main__).
    assert {module for module, _ in ROLES.values()} | {"cloud.worker.__main__"} <= hidden
    assert {(str(tmp_path / "model-bundle" / name), PACKAGED_MODEL_DIR) for name in ("bundle.json", "model.onnx")} \
        <= set(calls["Analysis"]["datas"])
    assert calls["Analysis"]["datas"] and all(Path(src).is_file() for src, _ in calls["Analysis"]["datas"])
    # The bundle is built from the desktop extra, which must not pull torch.
    desktop_extra = PROJECT["optional-dependencies"]["desktop"]
    assert not [d for d in desktop_extra if d.lower().startswith(("torch", "timm"))]
