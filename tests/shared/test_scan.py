"""What `scan` sends and what it reports as skipped, decided by content, every file exactly once."""

from __future__ import annotations

import errno
import io
import os

from PIL import Image

from shared.scan import Item, Skipped, scan


def image_bytes(fmt: str = "JPEG", size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


def write(path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def by_name(result):
    images = {i.name: i for i in result.images}
    skipped = {s.name: s for s in result.skipped}
    return images, skipped


def test_folder_is_walked_recursively_with_relative_posix_names(tmp_path):
    write(tmp_path / "photos" / "cat.jpg", image_bytes())
    write(tmp_path / "photos" / "2024" / "summer" / "beach.png", image_bytes("PNG"))
    images, skipped = by_name(scan([tmp_path / "photos"]))
    assert set(images) == {"cat.jpg", "2024/summer/beach.png"}
    assert skipped == {}
    beach = images["2024/summer/beach.png"]
    assert beach.path == tmp_path / "photos" / "2024" / "summer" / "beach.png"
    assert beach.suffix == ".png" and beach.size == (beach.path).stat().st_size


def test_format_is_decided_by_content_not_extension(tmp_path):
    write(tmp_path / "really_a_png.jpg", image_bytes("PNG"))
    write(tmp_path / "no_extension", image_bytes("JPEG"))
    for fmt in ("GIF", "BMP", "WEBP", "TIFF"):
        write(tmp_path / f"img.{fmt.lower()}.bin", image_bytes(fmt))
    images, skipped = by_name(scan([tmp_path]))
    assert skipped == {}
    assert images["really_a_png.jpg"].suffix == ".png"
    assert images["no_extension"].suffix == ".jpg"
    assert {images[f"img.{f}.bin"].suffix for f in ("gif", "bmp", "webp", "tiff")} == {
        ".gif", ".bmp", ".webp", ".tif"}


def test_hidden_files_and_folders_are_ignored_silently(tmp_path):
    write(tmp_path / "cat.jpg", image_bytes())
    write(tmp_path / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    write(tmp_path / "._cat.jpg", b"\x00\x05\x16\x07")
    write(tmp_path / ".cache" / "thumb.jpg", image_bytes())
    write(tmp_path / "Thumbs.db", b"\xd0\xcf\x11\xe0")
    images, skipped = by_name(scan([tmp_path]))
    assert set(images) == {"cat.jpg"}
    assert skipped == {}


def test_non_images_get_a_skipped_row_with_the_reason(tmp_path):
    write(tmp_path / "good.jpg", image_bytes())
    write(tmp_path / "notes.jpg", "this is text, not a photo\n")
    write(tmp_path / "readme.txt", "hello\n")
    write(tmp_path / "empty.png", b"")
    write(tmp_path / "doc.pdf", b"%PDF-1.7\n...")
    images, skipped = by_name(scan([tmp_path]))
    assert set(images) == {"good.jpg"}
    assert skipped["notes.jpg"] == Skipped("notes.jpg", "skipped: not an image (text)", looks_like_image=True)
    assert skipped["readme.txt"] == Skipped("readme.txt", "skipped: not an image (text)", looks_like_image=False)
    assert skipped["empty.png"] == Skipped("empty.png", "skipped: empty file", looks_like_image=True)
    assert skipped["doc.pdf"].reason == "skipped: not an image (PDF document)"
    assert not skipped["doc.pdf"].looks_like_image


def test_unreadable_file_is_reported(tmp_path, monkeypatch):
    locked = tmp_path / "locked.jpg"
    write(locked, image_bytes())
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads whatever the permissions: make the open fail as it would for a user
        import shared.scan

        def denied(path, *args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

        monkeypatch.setattr(shared.scan, "open", denied, raising=False)
    try:
        _images, skipped = by_name(scan([tmp_path]))
    finally:
        locked.chmod(0o644)
    assert skipped["locked.jpg"] == Skipped("locked.jpg", "skipped: unreadable: permission denied", True)


def test_symlinked_folder_loop_ends_and_each_file_appears_once(tmp_path):
    write(tmp_path / "root" / "a.jpg", image_bytes())
    write(tmp_path / "root" / "sub" / "b.jpg", image_bytes())
    (tmp_path / "root" / "sub" / "up").symlink_to(tmp_path / "root", target_is_directory=True)
    (tmp_path / "root" / "self").symlink_to(".", target_is_directory=True)
    result = scan([tmp_path / "root"])
    assert sorted(i.name for i in result.images) == ["a.jpg", "sub/b.jpg"]


def test_symlinked_folder_outside_the_tree_is_followed(tmp_path):
    write(tmp_path / "elsewhere" / "c.jpg", image_bytes())
    write(tmp_path / "root" / "a.jpg", image_bytes())
    (tmp_path / "root" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert sorted(i.name for i in scan([tmp_path / "root"]).images) == ["a.jpg", "linked/c.jpg"]


def test_file_argument_is_named_by_its_file_name(tmp_path):
    write(tmp_path / "deep" / "down" / "cat.jpg", image_bytes())
    result = scan([str(tmp_path / "deep" / "down" / "cat.jpg")])
    assert [i.name for i in result.images] == ["cat.jpg"]
    assert isinstance(result.images[0], Item) and result.images[0].path.is_absolute()


def test_same_names_from_two_arguments_stay_distinct(tmp_path):
    write(tmp_path / "2023" / "photos" / "x.jpg", image_bytes())
    write(tmp_path / "2023" / "photos" / "y.jpg", image_bytes())
    write(tmp_path / "2024" / "photos" / "x.jpg", image_bytes("PNG"))
    write(tmp_path / "other" / "x.jpg", image_bytes())
    result = scan([tmp_path / "2023" / "photos", tmp_path / "2024" / "photos", tmp_path / "other" / "x.jpg"])
    names = sorted(i.name for i in result.images)
    assert len(names) == len(set(names)) == 4
    assert names == ["2023/photos/x.jpg", "2023/photos/y.jpg", "2024/photos/x.jpg", "other/x.jpg"]


def test_a_file_given_twice_is_sent_once(tmp_path):
    write(tmp_path / "photos" / "x.jpg", image_bytes())
    result = scan([tmp_path / "photos", tmp_path / "photos" / "x.jpg", tmp_path / "photos"])
    assert [i.name for i in result.images] == ["x.jpg"]


def test_missing_path_gets_a_skipped_row(tmp_path):
    result = scan([tmp_path / "nope.jpg", tmp_path / "nofolder"])
    reasons = {s.name: (s.reason, s.looks_like_image) for s in result.skipped}
    assert reasons == {
        str(tmp_path / "nope.jpg"): ("no such file or folder", True),
        str(tmp_path / "nofolder"): ("no such file or folder", True),
    }
