"""`imgrec classify --organize DEST` and `imgrec organize --undo DEST` on the 100-image workload, through
the session's cloud (moto + two real workers): folders by the model's labels, nothing lost."""

from __future__ import annotations

import hashlib
import shutil

import pyexiv2
import pytest

from cloud.cli import main as imgrec
from shared.organize import FAILED, MANIFEST, UNCERTAIN, safe_folder_name

pytestmark = pytest.mark.e2e


def digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


def test_organize_moves_every_image_into_its_label_folder_and_undo_restores_them(
        cloud, workload_dir, reference, tmp_path, capsys):
    shoot, out = tmp_path / "shoot", tmp_path / "sorted"
    shutil.copytree(workload_dir, shoot, ignore=shutil.ignore_patterns("*.csv", "*.md"))
    before = digests(shoot)
    assert len(before) == 100

    code = imgrec(["classify", str(shoot), "--endpoint", cloud.endpoint, "--organize", str(out), "--move",
                   "--min-score", "0.3", "--xmp", "--no-progress", "--out", str(tmp_path / "r.csv")])
    assert code == 0
    err = capsys.readouterr().err
    assert f"organize into {out} (move): 100 file(s) in" in err and "100 file(s) moved, 0 skipped" in err
    placed = {p.name: p.parent.name for p in out.rglob("*") if p.is_file() and p.suffix == ".JPEG"}
    assert len(placed) == 100 and not [p for p in shoot.rglob("*") if p.suffix == ".JPEG"]
    for name, folder in placed.items():
        expected = reference[name]
        wanted = UNCERTAIN if float(expected["score"]) < 0.3 else safe_folder_name(expected["label"])
        assert folder == wanted, name
    assert FAILED not in {folder for folder in placed.values()}
    # The keyword sidecar went with each image, and holds the model's label.
    some = next(p for p in out.rglob("*.JPEG"))
    sidecar = pyexiv2.Image(str(some) + ".xmp")
    assert sidecar.read_xmp()["Xmp.dc.subject"] == [reference[some.name]["label"]]
    sidecar.close()

    assert imgrec(["organize", "--undo", str(out)]) == 0
    assert "undone: 200 file(s) put back" in capsys.readouterr().err  # the images and their sidecars
    restored = digests(shoot)
    assert {k: v for k, v in restored.items() if not k.endswith(".xmp")} == before
    assert not (out / MANIFEST).exists()


def test_a_dry_run_shows_the_folders_and_touches_nothing(cloud, workload_dir, tmp_path, capsys):
    out = tmp_path / "sorted"
    assert imgrec(["classify", str(workload_dir), "--endpoint", cloud.endpoint, "--organize", str(out),
                   "--dry-run", "--no-progress", "--out", str(tmp_path / "r.csv")]) == 0
    err = capsys.readouterr().err
    assert f"organize into {out} (copy): 100 file(s) in" in err and "dry run: nothing was copied or moved" in err
    assert not out.exists()
