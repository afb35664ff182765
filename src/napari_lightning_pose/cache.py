"""One small least-recently-used cache, for the decoded frames kept in memory.

The video reader (``io.video``), the labeled-frame stack (``viewer.layers``) and the
unlabeled clips (``data.unlabeled``) each keep recently decoded frames. They share this type:
entries are evicted, least recently used first, while the entries' total size is over the
budget; the last entry stays even when it alone is over (a frame bigger than the budget is
still served from memory while it is being used). Sizes are counted by ``sizeof`` (1 per entry
by default: a budget in entries). A reader with its own idea of what to evict (the video
reader keeps the frames around its cursor) passes ``victim`` to :meth:`LRUCache.put`.

Not thread-safe: a caller shared between threads holds its own lock around every call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """Entries ``key -> value``, the least recently used evicted past ``budget``.

    Parameters
    ----------
    budget
        Most total size kept (entries, or what ``sizeof`` counts).
    sizeof
        Size of one value; 1 when not given.
    """

    def __init__(self, budget: int, sizeof: Callable[[V], int] | None = None) -> None:
        self.budget = int(budget)
        self.total = 0
        self._sizeof = sizeof
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._entries))

    def peek(self, key: K) -> V | None:
        """The value of ``key`` without marking it used, or None."""
        return self._entries.get(key)

    def get(self, key: K) -> V | None:
        """The value of ``key``, marked as the most recently used, or None."""
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(
        self, key: K, value: V, victim: Callable[[Sequence[K]], K | None] | None = None
    ) -> None:
        """Keep ``value`` as ``key`` (replacing it), the most recently used; then evict.

        ``victim`` chooses the key to evict from the keys (least recently used first); None,
        or a ``victim`` that returns None, evicts the least recently used.
        """
        if key in self._entries:
            self.total -= self._size(self._entries.pop(key))
        self._entries[key] = value
        self.total += self._size(value)
        while self.total > self.budget and len(self._entries) > 1:
            chosen = victim(list(self._entries)) if victim else None
            old = self._entries.pop(next(iter(self._entries)) if chosen is None else chosen)
            self.total -= self._size(old)

    def touch(self, key: K) -> None:
        """Mark ``key`` (present) as the most recently used."""
        self._entries.move_to_end(key)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self.total = 0

    def _size(self, value: V) -> int:
        return 1 if self._sizeof is None else int(self._sizeof(value))
