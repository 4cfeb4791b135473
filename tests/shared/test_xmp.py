"""Keywords in XMP sidecars, read back with exiv2 (pyexiv2), the library digiKam and darktable build on."""

from __future__ import annotations

from pathlib import Path

import pyexiv2
import pytest

from shared.xmp import XmpError, sidecar_path, write_keywords

EXISTING = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:darktable="http://darktable.sf.net/" xmlns:acme="http://example.com/acme/1.0/"
    xmp:Rating="4" darktable:xmp_version="5" acme:Roll="12">
   <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>tabby</rdf:li></rdf:Bag></dc:subject>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Porch</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


def read(path: Path) -> dict:
    image = pyexiv2.Image(str(path))
    try:
        return image.read_xmp()
    finally:
        image.close()


def test_a_new_sidecar_holds_the_keywords(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    path = write_keywords(photo, ["tabby", "tiger cat", "tabby"])
    assert path == tmp_path / "photo.jpg.xmp"
    assert read(path)["Xmp.dc.subject"] == ["tabby", "tiger cat"]


def test_an_existing_sidecar_keeps_its_fields_and_keywords(tmp_path):
    photo = tmp_path / "photo.jpg"
    sidecar_path(photo).write_text(EXISTING, encoding="utf-8")
    before = read(sidecar_path(photo))
    write_keywords(photo, ["tabby", "tiger cat"])
    after = read(sidecar_path(photo))
    assert after["Xmp.dc.subject"] == ["holiday", "tabby", "tiger cat"]
    for key, value in before.items():
        if key != "Xmp.dc.subject":
            assert after[key] == value, key
    assert after["Xmp.xmp.Rating"] == "4" and after["Xmp.darktable.xmp_version"] == "5"


def test_a_sidecar_that_is_not_xml_is_left_alone(tmp_path):
    photo = tmp_path / "photo.jpg"
    sidecar_path(photo).write_text("not xml at all", encoding="utf-8")
    with pytest.raises(XmpError, match="not XML"):
        write_keywords(photo, ["tabby"])
    assert sidecar_path(photo).read_text(encoding="utf-8") == "not xml at all"
