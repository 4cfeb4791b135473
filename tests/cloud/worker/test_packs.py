"""Images read out of input packs: one download per pack for all the requests in hand."""

from __future__ import annotations

import threading

import pytest

from cloud.worker.packs import PackReader
from shared.config import Config
from shared.provision import provision
from shared.s3 import ObjectMissing, S3Service


@pytest.fixture
def s3(moto_server):
    cfg = moto_server.config(Config(input_bucket="packs-in", output_bucket="packs-out"))
    provision(cfg)
    service = S3Service(cfg)
    gets: list[str] = []
    service.client.meta.events.register("provide-client-params.s3.GetObject",
                                        lambda params, **_: gets.append(params.get("Range", "whole")))
    service.gets = gets
    return service


def _pack(s3, key: str, parts: list[bytes]) -> list[tuple[int, int]]:
    s3.put_bytes("packs-in", key, b"".join(parts))
    ranges, offset = [], 0
    for part in parts:
        ranges.append((offset, len(part)))
        offset += len(part)
    return ranges


def test_ten_threads_reading_one_pack_download_it_once(s3):
    parts = [bytes([i]) * (100 + i) for i in range(10)]
    ranges = _pack(s3, "jobs/j/pack-0", parts)
    reader = PackReader(s3, max_pack_bytes=1 << 20)
    got: dict[int, bytes] = {}
    def read(i: int) -> None:
        got[i] = reader.read("packs-in", "jobs/j/pack-0", *ranges[i])

    threads = [threading.Thread(target=read, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [got[i] for i in range(10)] == parts
    assert s3.gets == ["whole"] and reader.downloads == 1


def test_a_pack_over_the_limit_is_read_by_range_and_not_kept(s3):
    parts = [b"a" * 3000, b"b" * 3000]
    ranges = _pack(s3, "jobs/j/pack-1", parts)
    reader = PackReader(s3, max_pack_bytes=4000)
    assert [reader.read("packs-in", "jobs/j/pack-1", *r) for r in ranges] == parts
    assert reader.downloads == 0 and s3.gets.count("bytes=3000-5999") == 1


def test_a_missing_pack_raises_for_every_reader_and_is_tried_again(s3):
    reader = PackReader(s3, max_pack_bytes=1 << 20)
    with pytest.raises(ObjectMissing):
        reader.read("packs-in", "jobs/j/pack-9", 0, 10)
    _pack(s3, "jobs/j/pack-9", [b"x" * 10])
    assert reader.read("packs-in", "jobs/j/pack-9", 0, 10) == b"x" * 10  # the failure was not remembered


def test_the_cache_keeps_within_its_budget(s3):
    for n in range(4):
        _pack(s3, f"jobs/j/pack-{n}", [bytes([n]) * 1000])
    reader = PackReader(s3, max_pack_bytes=1 << 20, budget_bytes=2500)
    for n in range(4):
        reader.read("packs-in", f"jobs/j/pack-{n}", 0, 1000)
    reader.read("packs-in", "jobs/j/pack-3", 0, 1000)  # the newest is still held
    assert reader.downloads == 4
    reader.read("packs-in", "jobs/j/pack-0", 0, 1000)  # the oldest was dropped
    assert reader.downloads == 5
