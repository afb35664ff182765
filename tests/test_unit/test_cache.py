"""The one LRU cache behind the video reader, the labeled-frame stack and the clip loader."""

from __future__ import annotations

from napari_lightning_pose.cache import LRUCache


def test_least_recently_used_goes_first_past_the_budget() -> None:
    cache: LRUCache[int, str] = LRUCache(2)
    cache.put(1, "a")
    cache.put(2, "b")
    assert cache.get(1) == "a"  # 1 is now the most recent
    cache.put(3, "c")
    assert list(cache) == [1, 3] and 2 not in cache
    assert cache.peek(1) == "a" and list(cache) == [1, 3]  # peek does not reorder


def test_sizes_count_against_the_budget_and_the_last_entry_stays() -> None:
    cache: LRUCache[str, bytes] = LRUCache(10, sizeof=len)
    cache.put("a", b"x" * 6)
    cache.put("b", b"x" * 6)
    assert list(cache) == ["b"] and cache.total == 6
    cache.put("big", b"x" * 50)  # bigger than the budget alone: kept while it is used
    assert list(cache) == ["big"] and cache.total == 50
    cache.clear()
    assert len(cache) == 0 and cache.total == 0


def test_a_victim_chooses_what_to_evict() -> None:
    cache: LRUCache[int, int] = LRUCache(3)
    for k in (10, 50, 11):
        cache.put(k, k)
    cache.put(12, 12, victim=lambda keys: max(keys, key=lambda k: abs(k - 12)))
    assert sorted(cache) == [10, 11, 12]  # 50, farthest from 12, went
    cache.put(13, 13, victim=lambda keys: None)  # None: least recently used
    assert sorted(cache) == [11, 12, 13]
