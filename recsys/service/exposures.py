"""The answers served inside an experiment, written to the store off the request path.

A request only appends its :class:`~recsys.types.Exposure` to a deque, which is atomic without a
lock (a request thread switched out while holding a lock would make the others block and
switch too); a daemon thread writes what gathered every ``flush_s`` seconds
(``Store.add_exposures``, in transactions of at most :data:`WRITE_CHUNK` answers), so a request
never waits for the store. What a process holds when it is killed (at most ``flush_s`` seconds
of answers) is lost; a clean exit writes it (``close``). A store that cannot take the write keeps
the answers for the next try, up to ``max_pending`` of them; past that new answers are dropped
and counted (:attr:`ExposureLog.dropped`), so an outage costs report data, never memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from recsys.store.contract import Store
from recsys.types import Exposure

log = logging.getLogger(__name__)

WRITE_CHUNK = 2_000  # answers per transaction: a backlog never holds the write lock for long
OS_THREAD_NAME = "recsys-exposure"  # the writer thread's name in ``top -H`` and /proc (15 bytes)


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` in the operating system (Linux; elsewhere nothing).

    Python's thread names stay inside Python; this one shows in ``top -H``, ``ps -L`` and
    ``/proc/<pid>/task/<tid>/comm``, where the benchmarks find the writer's CPU time.
    """
    with contextlib.suppress(OSError):
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_text(name[:15])


class ExposureLog:
    """Buffers exposures and writes them in batches from a background thread.

    Args:
        store: returns the store to write to (called on the writer thread).
        flush_s: seconds between writes.
        max_pending: the most answers kept while the store cannot take them.

    Attributes:
        written: answers written so far.
        dropped: answers dropped because the store could not take them for too long.
    """

    def __init__(
        self, store: Callable[[], Store], flush_s: float = 1.0, max_pending: int = 200_000
    ) -> None:
        self._store = store
        self.flush_s = float(flush_s)
        self.max_pending = int(max_pending)
        self._pending: deque[Exposure] = deque()  # appended and popped without a lock
        self._lock = threading.Lock()  # starting the thread, counting drops
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.written = 0
        self.dropped = 0

    def record(self, exposure: Exposure) -> None:
        """Queue one answer (starts the writer thread on first use in this process)."""
        if self._thread is None or self._pid != os.getpid():
            self._start()  # in a forked child, first forget the parent's queue
        pending = self._pending
        if len(pending) < self.max_pending:  # may overshoot by a few under a race: still bounded
            pending.append(exposure)
        else:
            with self._lock:
                self.dropped += 1

    def _start(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's thread did not come
                self._pid, self._thread, self._pending = os.getpid(), None, deque()
                self._flush_lock = threading.Lock()
            if self._thread is not None:
                return
            self._stop.clear()

            def loop() -> None:
                name_os_thread(OS_THREAD_NAME)
                while not self._stop.wait(self.flush_s):
                    self.flush()

            self._thread = threading.Thread(target=loop, name="recsys-exposures", daemon=True)
            self._thread.start()

    def flush(self) -> int:
        """Write what is queued now; return how many answers were written."""
        with self._flush_lock:
            pending = self._pending
            batch = [pending.popleft() for _ in range(len(pending))]  # requests append meanwhile
            written = 0
            for start in range(0, len(batch), WRITE_CHUNK):
                try:
                    self._store().add_exposures(batch[start : start + WRITE_CHUNK])
                except Exception as exc:  # keep the rest for the next try (bounded)
                    rest = batch[start:]
                    pending.extendleft(reversed(rest))  # before what came meanwhile, in order
                    over = max(0, len(pending) - self.max_pending)
                    for _ in range(over):  # the oldest go first
                        pending.popleft()
                    with self._lock:
                        self.dropped += over
                    log.warning("could not record %d experiment answers yet: %s", len(rest), exc)
                    break
                written += len(batch[start : start + WRITE_CHUNK])
            self.written += written
            return written

    @property
    def pending(self) -> int:
        """Answers queued and not yet written."""
        return len(self._pending)

    def close(self) -> None:
        """Stop the writer thread and write what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()
