"""Dependencies point one way: desktop -> shared <- cloud. Checked by reading imports."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("shared", ("PySide6", "torch", "torchvision", "timm", "cloud", "desktop")),
        ("cloud", ("PySide6", "desktop")),
        ("cloud/scaler", ("torch", "torchvision", "timm", "cloud.worker.models", "cloud.worker.classifier")),
        ("desktop", ("torch", "torchvision", "timm", "cloud.worker.models", "cloud.worker.classifier")),
    ],
)
def test_no_import_crosses_the_layers(package, forbidden):
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, name in _imports(package)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]
    assert not bad, "\n".join(bad)


def test_the_desktop_app_runs_without_importing_torch():
    """Every desktop module, and what it pulls in (shared, cloud.scaler, cloud.embedded), stays torch-free."""
    import subprocess
    import sys

    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "desktop").rglob("*.py")
        if p.name != "__init__.py"
    )
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + (
        "heavy = sorted(m for m in ('torch', 'torchvision', 'timm') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
