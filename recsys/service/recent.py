"""Browsing shoppers' newest events, kept per serving process and read from the store by increments.

A shopper who browses posts an event on every page view and asks for recommendations on the
next page. Their answer is ranked from their newest events and the ``(item, type)`` pairs they
stored since training (``Store.user_events_since``): two reads that grow with everything the
shopper did since training. A shopper 300 events into a session paid about twice the CPU of
one with a single event (``benchmarks/README.md``, issue 20, eighth pass), and paid it again
on every page.

:class:`RecentEvents` remembers, per shopper, what the last read found and the store position
(``seq``) it covered. The next request reads only the events stored after that position
(``Store.user_events_after``: on a page view, one) and merges them in. What it returns is what
``user_events_since`` would return at the position the caller's ``user_state`` read named: the
newest ``limit`` events in the store's order (newest ``ts`` first, then the later stored), and
the distinct pairs stored after the watermark.

An entry is used only for the same watermark (a new bundle starts afresh), the same erasure
time (an erased shopper's old events are never served from memory) and a position that did not
go back. Events can leave the store in other ways (the retention purge, an administrator's
delete) without any of these changing, so an entry is also dropped after
:data:`ENTRY_TTL_S` seconds: nothing deleted that way is served from memory for longer. Entries
are evicted oldest first past :data:`CAPACITY` shoppers or past :data:`MAX_KEPT` events and
pairs in all; a shopper with more than :data:`MAX_PAIRS` pairs since training is not kept
(their reads stay whole).

How many shoppers to keep: a process answering ~1,000 requests/s, of shoppers who each view a
page every 10-30 s, sees 10,000-30,000 shoppers a minute, all of them browsing; the load
benchmark's live scenario cycles through 16,530 (synthetic catalog). An entry that is evicted
before its shopper's next page is read whole again, and pays a second ``user_state`` read to
be kept (``benchmarks/README.md``, issue 20, ninth pass: with 4,096 entries, every request of
a 30-second run of that scenario read whole). :data:`MAX_KEPT` bounds the memory whatever
the histories' lengths.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from recsys.store.contract import Store
from recsys.types import UserEvent

CAPACITY = 65_536  # shoppers remembered per process
MAX_KEPT = 2_000_000  # events and pairs remembered in all per process (some 200 MB at most)
ENTRY_TTL_S = 60.0  # an entry is read again whole after this long
MAX_PAIRS = 2000  # shoppers with more pairs since training are read whole each time


@dataclass
class _Entry:
    watermark: int
    erased_at: float | None
    seq: int  # the position of the shopper's newest event
    events: list[UserEvent]  # newest first, at most the limit it was read with
    limit: int
    pairs: dict[tuple[str, str], None]  # distinct (item_id, type) stored after the watermark
    read_at: float
    covered: int  # the store position the entry covers (>= seq): no other event up to it


class RecentEvents:
    """Per-shopper newest events and pairs since training, read by increments (thread-safe).

    Args:
        capacity: shoppers remembered (oldest evicted first).
        ttl_s: how long an entry is trusted before it is read whole again.
        clock: the time source (tests pass their own).
        max_kept: events and pairs remembered in all (oldest shoppers evicted first).
    """

    def __init__(
        self,
        capacity: int = CAPACITY,
        ttl_s: float = ENTRY_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        max_kept: int = MAX_KEPT,
    ) -> None:
        self.capacity, self.ttl_s, self.max_kept = capacity, ttl_s, max_kept
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._kept = 0  # events and pairs in the entries
        self._lock = threading.Lock()
        self.reads = {"whole": 0, "increment": 0, "none": 0}  # how each request was answered

    def state(
        self, store: Store, user_id: str, watermark: int
    ) -> tuple[int | None, float | None, int | None]:
        """``store.user_state(user_id)``, and the store position the answer covers.

        A shopper remembered here (same watermark, within the TTL) costs a read of what was
        stored after the position their entry covers (``Store.user_state_after``): on a quiet
        store, or for a shopper back within a few hundred stored events, a few rows instead of
        a scan of every event they ever stored. Otherwise the plain ``user_state`` read, and
        None for the position.

        An event deleted at or before the entry's position (the retention purge, an
        administrator's delete; never an erasure, which moves ``erased_at``) is noticed when
        the entry expires, as in :meth:`read`.

        Returns:
            ``(position of the newest event, erased_at, position covered or None)``: pass all
            three to :meth:`read`.
        """
        now = self._clock()
        with self._lock:
            entry = self._entries.get(user_id)
        if entry is not None and entry.watermark == watermark and now - entry.read_at <= self.ttl_s:
            newer, erased_at, covered = store.user_state_after(user_id, entry.covered)
            return (entry.seq if newer is None else newer), erased_at, covered
        newest, erased_at = store.user_state(user_id)
        return newest, erased_at, None

    def read(
        self,
        store: Store,
        user_id: str,
        limit: int,
        watermark: int,
        newest_seq: int,
        erased_at: float | None,
        covered: int | None = None,
    ) -> tuple[list[UserEvent], list[tuple[str, str]]]:
        """``store.user_events_since(user_id, limit, watermark)``, from memory where it can.

        Args:
            store: the store the events are in.
            user_id: the shopper.
            limit: how many of the newest events.
            watermark: the training's store position (pairs are those stored after it).
            newest_seq: the position of the shopper's newest event, as ``store.user_state``
                (or :meth:`state`) just read it: what is returned covers exactly that.
            erased_at: when the shopper was last erased, as that read found.
            covered: the store position that read covers (:meth:`state`), or None.

        Returns:
            ``(events newest first, distinct (item_id, type) pairs stored after watermark)``.
        """
        now = self._clock()
        covered = newest_seq if covered is None else max(covered, newest_seq)
        with self._lock:
            entry = self._entries.get(user_id)
        if (
            entry is not None
            and entry.watermark == watermark
            and entry.erased_at == erased_at
            and entry.limit == limit
            and entry.seq <= newest_seq
            and now - entry.read_at <= self.ttl_s
        ):
            if entry.seq == newest_seq:
                self._count("none")
                if covered > entry.covered:
                    self._advance(user_id, entry, covered)
                return list(entry.events), list(entry.pairs)
            # nothing of the shopper's lies in (entry.seq, entry.covered]
            new = store.user_events_after(user_id, entry.covered, newest_seq)
            events, pairs = _merged(entry, new, limit)
            self._count("increment")
            if len(pairs) <= MAX_PAIRS:
                kept = _Entry(watermark, erased_at, newest_seq, events, limit, pairs,
                              entry.read_at, covered)  # fmt: skip
                self._keep(user_id, kept)
            else:
                self._drop(user_id)
            return list(events), list(pairs)
        events, since = store.user_events_since(user_id, limit, watermark)
        self._count("whole")
        # kept only when nothing was stored or erased between the caller's read and these:
        # the entry must cover exactly the positions up to newest_seq (the check reads from
        # newest_seq itself, so a deleted newest event is noticed)
        newest, now_erased, now_covered = store.user_state_after(user_id, newest_seq - 1)
        if len(since) <= MAX_PAIRS and (newest, now_erased) == (newest_seq, erased_at):
            self._keep(user_id, _Entry(watermark, erased_at, newest_seq, events, limit,
                                       dict.fromkeys(since), now, now_covered))  # fmt: skip
        else:
            self._drop(user_id)
        return events, since

    def forget(self, user_ids: Iterable[str]) -> None:
        """Drop what is remembered of these shoppers (an erasure)."""
        with self._lock:
            for user_id in user_ids:
                self._pop(user_id)

    @property
    def kept(self) -> int:
        """Events and pairs remembered now, all shoppers together."""
        return self._kept

    def _count(self, how: str) -> None:
        with self._lock:
            self.reads[how] += 1

    def _drop(self, user_id: str) -> None:
        with self._lock:
            self._pop(user_id)

    def _advance(self, user_id: str, entry: _Entry, covered: int) -> None:
        """Nothing new of the shopper up to ``covered``: their entry covers it."""
        with self._lock:
            if self._entries.get(user_id) is entry and covered > entry.covered:
                entry.covered = covered

    def _pop(self, user_id: str) -> None:  # the lock is held
        entry = self._entries.pop(user_id, None)
        if entry is not None:
            self._kept -= _size(entry)

    def _keep(self, user_id: str, entry: _Entry) -> None:
        with self._lock:
            self._pop(user_id)
            self._entries[user_id] = entry
            self._kept += _size(entry)
            while len(self._entries) > self.capacity or self._kept > self.max_kept:
                _, oldest = self._entries.popitem(last=False)
                self._kept -= _size(oldest)


def _size(entry: _Entry) -> int:
    """What an entry counts towards :data:`MAX_KEPT`: its events and pairs."""
    return len(entry.events) + len(entry.pairs)


def _merged(
    entry: _Entry, new: list[tuple[str, str, float, int]], limit: int
) -> tuple[list[UserEvent], dict[tuple[str, str], None]]:
    """``entry``'s events and pairs with ``new`` (position order) merged in."""
    pairs = dict(entry.pairs)
    for item, kind, _, _ in new:
        pairs[(item, kind)] = None
    fresh = [UserEvent(item, kind, ts) for item, kind, ts, _ in reversed(new)]  # later first
    # newest ts first; on a tie the later stored first: every new event was stored after
    # every remembered one, so a stable sort with the new ones in front orders them
    events = sorted([*fresh, *entry.events], key=lambda e: -e.ts)[:limit]
    return events, pairs
