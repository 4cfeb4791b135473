"""The house rule on imports, read from the source (nothing is imported): which part may import which,
which libraries each part keeps out, and no import cycle anywhere.

Every import counts, at the top of a module or inside a function. A module belongs to the part its
package names (the longest of PARTS), unless MEMBERS says otherwise.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "cloud", "desktop")
# The local cloud (cloud.local): the moto server, the embedded cloud, the local fleet with its scaler, and
# how their processes are started. The desktop runs it; it runs workers and the scaler.
LOCAL_CLOUD = "cloud.local"
PARTS = ("cloud.worker", "cloud.scaler", "cloud.deploy", "cloud.ami", LOCAL_CLOUD, "cloud", "shared", "desktop")

# Modules that belong to another part than their package says.
MEMBERS = {
    # `python -m cloud.worker` is the command line's `imgrec worker`.
    "cloud.worker.__main__": "cloud",
}

# Which parts each part may import, besides itself.
MAY_IMPORT = {
    "shared": set(),
    "cloud.worker": {"shared"},
    "cloud.scaler": {"shared", LOCAL_CLOUD, "cloud.ami"},  # the EC2 fleet launches with the image's user data
    "cloud.ami": {"shared", "cloud.worker"},  # a bake publishes and smoke-tests the model
    "cloud.deploy": {"shared", "cloud.ami", "cloud.scaler"},
    LOCAL_CLOUD: {"shared", "cloud.scaler", "cloud.worker"},
    "cloud": {"shared", LOCAL_CLOUD, "cloud.ami"},  # the command line: its handlers are named as text
    "desktop": {"shared", "cloud.scaler", LOCAL_CLOUD},  # never cloud.worker: no model code in the app
}

# Libraries each folder keeps out (the desktop's torch-freedom is also checked at run time below).
NEVER = {
    "shared": ("PySide6", "torch", "torchvision", "timm"),
    "cloud": ("PySide6",),
    "cloud/scaler": ("torch", "torchvision", "timm"),
    "desktop": ("torch", "torchvision", "timm"),
}


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(module: str, path: Path) -> list[tuple[str, str | None]]:
    """Every import anywhere in the module, absolute: ``import a.b`` is ("a.b", None), ``from a import b``
    is ("a", "b")."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            found += [(base, alias.name) for alias in node.names]
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the project's modules it imports: ``from P import m`` depends on P.m where that is a
    module, otherwise on P; a name depends on the longest known module it is or lies in."""
    known = modules(root)
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        graph[module] = set()
        for name, attribute in imports(module, path):
            if attribute and f"{name}.{attribute}" in known:
                name = f"{name}.{attribute}"
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                graph[module].add(name)
    return graph


def part_of(module: str) -> str:
    if module in MEMBERS:
        return MEMBERS[module]
    return next(p for p in PARTS if module == p or module.startswith(p + "."))


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Each import of a part the importer's part may not import."""
    bad = []
    for module, imported in sorted(graph.items()):
        mine = part_of(module)
        for other in sorted(imported):
            theirs = part_of(other)
            if theirs != mine and theirs not in MAY_IMPORT[mine]:
                bad.append(f"{module} ({mine}) imports {other} ({theirs})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


# --- the rule holds here ----------------------------------------------------------------------------

def test_each_part_imports_only_what_it_may():
    bad = wrong_way(import_graph(ROOT))
    assert not bad, "\n".join(bad)


def test_no_import_cycle_anywhere():
    found = cycles(import_graph(ROOT))
    assert not found, "\n".join(" <-> ".join(c) for c in found)


def test_the_rule_names_only_modules_that_exist():
    known = modules(ROOT)
    assert set(MAY_IMPORT) == set(PARTS)
    assert not [m for m in MEMBERS if m not in known], "MEMBERS names a module that is gone"


def kept_out(root: Path) -> list[str]:
    """Each import of a library that the importer's folder keeps out (NEVER)."""
    bad = []
    for module, path in modules(root).items():
        for folder, libraries in NEVER.items():
            package = folder.replace("/", ".")
            if module == package or module.startswith(package + "."):
                bad += [f"{module} imports {name}" for name, _ in imports(module, path)
                        if name.split(".")[0] in libraries]
    return sorted(bad)


def test_no_folder_imports_a_library_it_keeps_out():
    bad = kept_out(ROOT)
    assert not bad, "\n".join(bad)


def test_the_desktop_app_runs_without_importing_torch():
    """Every desktop module, and what it pulls in (shared, cloud.scaler, the local cloud), stays torch-free."""
    names = sorted(m for m in modules(ROOT) if m.startswith("desktop.") and not m.endswith("__main__"))
    code = "import sys\n" + "".join(f"import {m}\n" for m in names) + (
        "heavy = sorted(m for m in ('torch', 'torchvision', 'timm') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]


# --- and the checks would see a breach ----------------------------------------------------------------

@pytest.fixture
def tree(tmp_path):
    """A small copy of the layout, clean, that a test breaks one import at a time."""

    def write(module: str, source: str = "") -> None:
        path = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(tmp_path).parents:
            (tmp_path / parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(source))

    write("shared.config")
    write("cloud.local.server", "from shared.config import Config\n")
    write("cloud.worker.loop", "from shared import config\n")
    write("cloud.scaler.loop", "from shared.config import Config\n")
    write("cloud.local.embedded", "def start():\n    from cloud.worker import loop\n")
    write("desktop.session", "from cloud.scaler.loop import Scaler\nfrom cloud.local import embedded\n")
    write.root = tmp_path
    return write


def test_a_clean_tree_passes(tree):
    graph = import_graph(tree.root)
    assert graph["desktop.session"] == {"cloud.scaler.loop", "cloud.local.embedded"}
    assert graph["cloud.local.embedded"] == {"cloud.worker.loop"}  # an import inside a function counts
    assert wrong_way(graph) == [] and cycles(graph) == []


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("desktop.worker_view", "from cloud.worker.loop import Worker\n",
     "desktop.worker_view (desktop) imports cloud.worker.loop (cloud.worker)"),
    ("desktop.lazy", "def f():\n    import cloud.worker.loop\n",
     "desktop.lazy (desktop) imports cloud.worker.loop (cloud.worker)"),
    ("cloud.scaler.ui", "from desktop import session\n",
     "cloud.scaler.ui (cloud.scaler) imports desktop.session (desktop)"),
    ("cloud.worker.scaling", "from cloud.scaler import loop\n",
     "cloud.worker.scaling (cloud.worker) imports cloud.scaler.loop (cloud.scaler)"),
    ("shared.helper", "from cloud.scaler.loop import Scaler\n",
     "shared.helper (shared) imports cloud.scaler.loop (cloud.scaler)"),
    ("cloud.local.view", "from desktop import session\n",
     "cloud.local.view (cloud.local) imports desktop.session (desktop)"),
    ("shared.relative", "from ..cloud.worker import loop\n",
     "shared.relative (shared) imports cloud.worker.loop (cloud.worker)"),
])
def test_a_wrong_way_import_is_named(tree, module, source, expected):
    tree(module, source)
    assert expected in wrong_way(import_graph(tree.root))


def test_a_cycle_is_named_even_through_a_lazy_import(tree):
    tree("cloud.scaler.defaults", "from cloud.local import fleet\n")
    tree("cloud.local.fleet", "def f():\n    from cloud.scaler.defaults import X\n")
    assert cycles(import_graph(tree.root)) == [["cloud.local.fleet", "cloud.scaler.defaults"]]


@pytest.mark.parametrize(("module", "source", "library"), [
    ("shared.thumbnails", "from PySide6.QtGui import QImage\n", "PySide6.QtGui"),
    ("cloud.scaler.guess", "def f():\n    import torch\n", "torch"),
    ("desktop.predict", "import timm.models\n", "timm.models"),
])
def test_a_library_a_folder_keeps_out_is_named(tree, module, source, library):
    assert kept_out(tree.root) == []
    tree(module, source)
    assert kept_out(tree.root) == [f"{module} imports {library}"]
