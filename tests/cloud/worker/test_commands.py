"""`imgrec predict`: in-process classification of a folder, every file exactly once in the CSV."""

from __future__ import annotations

import shutil

from cloud.cli import main
from shared.results_csv import read_csv


def test_predict_writes_one_row_per_file_and_fails_on_bad_images(tmp_path, workload_dir, bad_files):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    shutil.copyfile(workload_dir / "test_2.JPEG", photos / "butterfly.jpg")
    shutil.copyfile(workload_dir / "test_10.JPEG", photos / "sub" / "guacamole.jpg")
    for name, (data, _) in bad_files.items():
        (photos / name).write_bytes(data)
    (photos / "readme.txt").write_text("not an image, and not named like one\n")
    out = tmp_path / "results.csv"

    code = main(["predict", str(photos), "--out", str(out)])

    rows = {row["image"]: row for row in read_csv(out)}
    assert set(rows) == {"butterfly.jpg", "sub/guacamole.jpg", "readme.txt", *bad_files}
    assert rows["butterfly.jpg"]["label"] == "monarch" and rows["butterfly.jpg"]["error"] == ""
    assert rows["butterfly.jpg"]["top5"].split("|")[0] == "monarch"
    assert rows["sub/guacamole.jpg"]["label"] == "guacamole"
    # Files that reach the model get the decoder's reason; the scan turns away the rest before it.
    assert rows["truncated.jpg"]["error"] == "truncated or corrupt image"
    assert rows["bomb.png"]["error"] == "image too large: 60000x60000 pixels (limit 40000000)"
    assert rows["notes.jpg"]["error"].startswith("skipped: not an image")
    assert rows["empty.jpg"]["error"] == "skipped: empty file"
    assert rows["readme.txt"]["error"].startswith("skipped: not an image")
    assert code == 1  # files that look like images failed


def test_predict_succeeds_when_every_image_is_classified(tmp_path, workload_dir, capsys):
    shutil.copyfile(workload_dir / "test_25.JPEG", tmp_path / "fountain.jpg")
    (tmp_path / "notes.txt").write_text("skipped, but not a failure\n")
    assert main(["predict", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "fountain.jpg" in table and "fountain" in table.split("fountain.jpg", 1)[1]
