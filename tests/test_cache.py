"""The on-disk result cache: keying, damaged entries, eviction, unusable directories."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from rembg_core import RemoveOptions
from rembg_core.batch.cache import MAGIC, ResultCache, cache_key

MODEL_A = "sha256:" + "a" * 64
MODEL_B = "sha256:" + "b" * 64


def test_key_changes_with_input_options_and_model():
    base = cache_key(b"image", RemoveOptions(), MODEL_A)
    assert base == cache_key(b"image", RemoveOptions(), MODEL_A)
    variants = [
        cache_key(b"image2", RemoveOptions(), MODEL_A),
        cache_key(b"image", RemoveOptions(max_size=800), MODEL_A),
        cache_key(b"image", RemoveOptions(only_mask=True), MODEL_A),
        cache_key(b"image", RemoveOptions(post_process_mask=True), MODEL_A),
        cache_key(b"image", RemoveOptions(bgcolor=(255, 255, 255, 255)), MODEL_A),
        cache_key(b"image", RemoveOptions(crop=True), MODEL_A),
        cache_key(b"image", RemoveOptions(format="webp"), MODEL_A),
        cache_key(b"image", RemoveOptions(), MODEL_B),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_dict_options_are_order_independent():
    assert cache_key(b"x", {"a": 1, "b": 2}, MODEL_A) == cache_key(b"x", {"b": 2, "a": 1}, MODEL_A)


def test_roundtrip_and_counters(tmp_path):
    cache = ResultCache(tmp_path)
    key = cache.key(b"input", RemoveOptions(), MODEL_A)
    assert cache.get(key) is None
    assert cache.put(key, b"output-bytes", {"size": [3, 2]})
    entry = cache.get(key)
    assert entry.data == b"output-bytes" and entry.meta == {"size": [3, 2]}
    other_model = cache.key(b"input", RemoveOptions(), MODEL_B)
    assert cache.get(other_model) is None
    s = cache.stats
    assert (s.hits, s.misses, s.writes) == (1, 2, 1)


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "bad-digest"])
def test_damaged_entry_is_a_miss_and_is_dropped(tmp_path, damage, caplog):
    cache = ResultCache(tmp_path)
    key = cache.key(b"input", RemoveOptions(), MODEL_A)
    cache.put(key, b"x" * 1000)
    path = next(tmp_path.rglob("*.entry"))
    blob = path.read_bytes()
    path.write_bytes({
        "empty": b"",
        "truncated": blob[:-10],
        "garbage": os.urandom(len(blob)),
        "bad-digest": blob[:-1] + b"y",
    }[damage])
    with caplog.at_level(logging.WARNING, "rembg_core.batch.cache"):
        assert cache.get(key) is None
    assert not path.exists()
    assert cache.stats.corrupt == 1
    assert cache.put(key, b"x" * 1000) and cache.get(key).data == b"x" * 1000


def test_header_with_bad_json_is_a_miss(tmp_path):
    cache = ResultCache(tmp_path)
    key = "ab" + "0" * 62
    path = tmp_path / "ab" / f"{key}.entry"
    path.parent.mkdir()
    path.write_bytes(MAGIC + (5).to_bytes(4, "big") + b"{nope" + b"data")
    assert cache.get(key) is None


def test_unwritable_directory_never_fails(tmp_path, caplog):
    # Tests run as root, where chmod does not stop writes: put the cache under a regular file.
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    cache = ResultCache(blocker / "cache")
    key = cache.key(b"input", RemoveOptions(), MODEL_A)
    with caplog.at_level(logging.WARNING, "rembg_core.batch.cache"):
        assert cache.put(key, b"out") is False
        assert cache.put(key + "0", b"out") is False
        assert cache.get(key) is None
    writes = [r.getMessage() for r in caplog.records if r.name == "rembg_core.batch.cache" and "write" in r.getMessage()]
    assert len(writes) == 1 and "uncached" in writes[0]  # once, not once per image
    assert cache.stats.errors >= 2 and len(cache) == 0


def test_lru_eviction_keeps_the_recently_used(tmp_path):
    cache = ResultCache(tmp_path, max_bytes=10_000)
    keys = [cache.key(bytes([i]), RemoveOptions(), MODEL_A) for i in range(4)]
    for i, key in enumerate(keys[:3]):
        cache.put(key, b"x" * 3000)
        os.utime(next(tmp_path.rglob(f"{key}.entry")), (1000 + i, 1000 + i))  # put order, distinct mtimes
    assert cache.get(keys[0]) is not None  # the oldest becomes the most recent
    cache.put(keys[3], b"x" * 3000)  # over 10 kB: evict down to 9 kB
    assert cache.get(keys[1]) is None  # least recently used went first
    assert cache.get(keys[0]) is not None and cache.get(keys[3]) is not None
    assert cache.size_bytes() <= 10_000 and cache.stats.evictions >= 1


def test_concurrent_readers_and_writers(tmp_path):
    cache = ResultCache(tmp_path, max_bytes=20_000)
    keys = [cache.key(bytes([i]), RemoveOptions(), MODEL_A) for i in range(20)]
    payload = {k: bytes([i]) * 2500 for i, k in enumerate(keys)}
    bad: list[str] = []

    def work(offset: int) -> None:
        for n in range(60):
            k = keys[(n + offset) % len(keys)]
            got = cache.get(k)
            if got is not None and got.data != payload[k]:
                bad.append(k)
            cache.put(k, payload[k])

    threads = [threading.Thread(target=work, args=(i * 5,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad  # a reader never sees half an entry or another key's data
    assert cache.stats.corrupt == 0
    assert not list(Path(tmp_path).rglob("*.part"))
