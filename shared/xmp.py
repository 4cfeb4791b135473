"""Labels as keywords in XMP sidecars (``photo.jpg.xmp``), which Lightroom, darktable and digiKam read.

    write_keywords(Path("photo.jpg"), ["tabby", "tiger cat"])

The keywords go into ``dc:subject`` (an ``rdf:Bag``). An existing sidecar is merged into: its other
properties and its own keywords stay, ours are added once. A sidecar that is not XML is left alone
(XmpError). The file is replaced whole (written beside, then renamed), never half written.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "darktable": "http://darktable.sf.net/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

MAX_SIDECAR_BYTES = 16 * 1024 * 1024
_PACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_END = '\n<?xpacket end="w"?>\n'


class XmpError(ValueError):
    """An existing sidecar that cannot be merged into: left as it is."""


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def sidecar_path(image: Path) -> Path:
    return image.with_name(image.name + ".xmp")


def _new_packet() -> ET.Element:
    root = ET.Element(_q("x", "xmpmeta"))
    rdf = ET.SubElement(root, _q("rdf", "RDF"))
    ET.SubElement(rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""})
    return root


def _read(path: Path) -> ET.Element:
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        raise XmpError(f"{path}: larger than {MAX_SIDECAR_BYTES // (1024 * 1024)} MiB")
    try:
        root = ET.fromstring(path.read_bytes())  # noqa: S314 - a local file the user owns, parsed without DTDs
    except ET.ParseError as exc:
        raise XmpError(f"{path}: not XML ({exc})") from None
    if root.tag == _q("rdf", "RDF"):  # a sidecar without the x:xmpmeta wrapper
        wrapper = ET.Element(_q("x", "xmpmeta"))
        wrapper.append(root)
        root = wrapper
    if root.tag != _q("x", "xmpmeta") or root.find(_q("rdf", "RDF")) is None:
        raise XmpError(f"{path}: not an XMP packet")
    return root


def _keywords_bag(description: ET.Element) -> ET.Element:
    subject = description.find(_q("dc", "subject"))
    if subject is None:
        subject = ET.SubElement(description, _q("dc", "subject"))
    bag = subject.find(_q("rdf", "Bag"))
    if bag is None:
        bag = ET.SubElement(subject, _q("rdf", "Bag"))
    return bag


def keywords(label: str, top5: Iterable[tuple[str, float]] = (), top5_at_least: float | None = None) -> list[str]:
    """The keywords for a classified image: its label, and with ``top5_at_least`` the top-5 labels
    scoring at least that (`--xmp-top5`, the app's Write keywords…)."""
    chosen = [label]
    if top5_at_least is not None:
        chosen += [name for name, score in top5 if score >= top5_at_least]
    return chosen


def write_keywords(image: Path, keywords: Iterable[str]) -> Path:
    """Adds ``keywords`` to the image's sidecar, creating it if needed; returns the sidecar's path."""
    path = sidecar_path(image)
    root = _read(path) if path.exists() else _new_packet()
    rdf = root.find(_q("rdf", "RDF"))
    description = next((d for d in rdf.findall(_q("rdf", "Description")) if d.find(_q("dc", "subject")) is not None),
                       None) or rdf.find(_q("rdf", "Description"))
    if description is None:
        description = ET.SubElement(rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""})
    bag = _keywords_bag(description)
    present = {li.text for li in bag.findall(_q("rdf", "li"))}
    for keyword in keywords:
        if keyword and keyword not in present:
            ET.SubElement(bag, _q("rdf", "li")).text = keyword
            present.add(keyword)
    ET.indent(root, space=" ")
    text = _PACKET_BEGIN + ET.tostring(root, encoding="unicode") + _PACKET_END
    partial = path.with_name("." + path.name + ".imgrec-partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path
