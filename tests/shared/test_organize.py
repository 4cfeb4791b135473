"""Sorting classified files into folders by label, and undoing it: nothing lost or overwritten, even
when the run is killed part way."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from shared.organize import FAILED, MANIFEST, UNCERTAIN, Entry, organize, plan_organize, safe_folder_name, undo
from shared.scan import stamp

REPO_ROOT = Path(__file__).resolve().parents[2]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def shoot(tmp_path):
    """Six files in two folders, two of them with the same name."""
    root = tmp_path / "shoot"
    for rel, payload in [("a/cat.jpg", b"cat-a"), ("b/cat.jpg", b"cat-b"), ("a/dog.jpg", b"dog"),
                         ("a/blur.jpg", b"blur"), ("b/broken.jpg", b"broken"), ("b/con.jpg", b"con")]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload * 100)
    return root


def entries(root: Path) -> list[Entry]:
    labelled = {"a/cat.jpg": ("tabby", 0.9), "b/cat.jpg": ("tabby", 0.8), "a/dog.jpg": ("golden retriever", 0.7),
                "a/blur.jpg": ("tabby", 0.1), "b/con.jpg": ("CON", 0.9)}
    found = []
    for rel in ["a/cat.jpg", "b/cat.jpg", "a/dog.jpg", "a/blur.jpg", "b/broken.jpg", "b/con.jpg"]:
        path = root / rel
        label, score = labelled.get(rel, ("", None))
        found.append(Entry(path=path, label=label, score=score, error="" if label else "not an image",
                           stamp=stamp(path)))
    return found


@pytest.mark.parametrize(("label", "folder"), [
    ("tabby", "tabby"), ("a/b:c*d?", "a_b_c_d_"), ("trailing dot. ", "trailing dot"), ("", "_unnamed"),
    ("con", "con_"), ("LPT1.txt", "LPT1.txt_"), ("..", "_unnamed"), ("_failed", "_failed_"), ("tab\tby", "tab_by"),
])
def test_label_folders_are_safe_on_every_file_system(label, folder):
    assert safe_folder_name(label) == folder


def test_the_plan_previews_counts_and_resolves_name_collisions(shoot, tmp_path):
    dest = tmp_path / "out"
    plan = plan_organize(entries(shoot), dest, min_score=0.3)
    assert plan.counts() == [("tabby", 2), ("CON_", 1), (FAILED, 1), (UNCERTAIN, 1), ("golden retriever", 1)]
    targets = {p.source.relative_to(shoot).as_posix(): p.target.relative_to(dest).as_posix() for p in plan.placements}
    assert targets["a/cat.jpg"] == "tabby/cat.jpg" and targets["b/cat.jpg"] == "tabby/cat (2).jpg"
    assert not dest.exists()  # a plan touches nothing


def test_copy_leaves_the_originals_and_undo_removes_the_copies(shoot, tmp_path):
    before = snapshot(shoot)
    dest = tmp_path / "out"
    report = organize(plan_organize(entries(shoot), dest, min_score=0.3))
    assert len(report.placed) == 6 and snapshot(shoot) == before
    assert digest(dest / "tabby" / "cat (2).jpg") == before["b/cat.jpg"]
    assert (dest / MANIFEST).exists()
    result = undo(dest)
    assert (result.removed, result.restored, result.problems) == (6, 0, [])
    assert snapshot(shoot) == before
    assert not any(dest.iterdir())  # the label folders went with the copies


def test_move_then_undo_puts_every_file_back_byte_for_byte_with_its_sidecar(shoot, tmp_path):
    (shoot / "a" / "dog.jpg.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    before = snapshot(shoot)
    dest = tmp_path / "out"
    report = organize(plan_organize(entries(shoot), dest, min_score=0.3, move=True))
    assert len(report.placed) == 6
    assert not [p for p in shoot.rglob("*") if p.is_file()]  # all moved
    assert (dest / "golden retriever" / "dog.jpg.xmp").exists()  # the sidecar went with its image
    undo(dest)
    assert snapshot(shoot) == before


def test_a_file_that_changed_or_vanished_since_it_was_classified_stays_where_it_is(shoot, tmp_path):
    found = entries(shoot)
    (shoot / "a" / "dog.jpg").write_bytes(b"edited since")
    (shoot / "b" / "con.jpg").unlink()
    report = organize(plan_organize(found, tmp_path / "out", move=True))
    reasons = {path.name: why for path, why in report.skipped}
    assert reasons == {"dog.jpg": "skipped: the file changed since it was classified",
                       "con.jpg": "skipped: the file is gone or unreadable since it was classified"}
    assert (shoot / "a" / "dog.jpg").read_bytes() == b"edited since"


def test_an_existing_file_in_the_destination_is_never_overwritten(shoot, tmp_path):
    dest = tmp_path / "out"
    (dest / "tabby").mkdir(parents=True)
    (dest / "tabby" / "cat.jpg").write_bytes(b"the user's own")
    organize(plan_organize(entries(shoot), dest))
    assert (dest / "tabby" / "cat.jpg").read_bytes() == b"the user's own"
    assert sorted(p.name for p in (dest / "tabby").iterdir()) == ["blur.jpg", "cat (2).jpg", "cat (3).jpg", "cat.jpg"]


KILLER = """
import os, signal, sys
from pathlib import Path
from shared.organize import Entry, organize, plan_organize
root, dest, after = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
files = sorted(p for p in root.rglob("*") if p.is_file())
done = []
def placed(_):
    done.append(1)
    if len(done) == after:
        os.kill(os.getpid(), signal.SIGKILL)
organize(plan_organize([Entry(path=p, label="label-" + p.stem[-1], score=0.9) for p in files], dest, move=True),
         on_placed=placed)
"""


def test_a_move_killed_part_way_loses_nothing_and_undo_restores_everything(tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(40):
        (root / f"img{i:02d}.jpg").write_bytes(bytes([i]) * 5000)
    before = snapshot(root)
    dest = tmp_path / "out"
    run = subprocess.run([sys.executable, "-c", KILLER, str(root), str(dest), "17"], cwd=REPO_ROOT, timeout=120)
    assert run.returncode == -9
    moved = {p.name for p in dest.rglob("*.jpg")}
    assert len(moved) == 17 and len(moved | {p.name for p in root.iterdir()}) == 40  # each file in one place
    undo(dest)
    assert snapshot(root) == before


def test_undo_keeps_a_moved_file_when_a_new_file_took_its_old_place(shoot, tmp_path):
    dest = tmp_path / "out"
    organize(plan_organize(entries(shoot), dest, move=True))
    (shoot / "a" / "dog.jpg").write_bytes(b"a new dog, imported since")
    report = undo(dest)
    assert any("dog.jpg" in problem and "taken by another file" in problem for problem in report.problems)
    assert (shoot / "a" / "dog.jpg").read_bytes() == b"a new dog, imported since"
    assert (dest / "golden retriever" / "dog.jpg").read_bytes() == b"dog" * 100  # the original, kept
