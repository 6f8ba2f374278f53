"""Fair turns at the SQLite store's write lock: writers are served about in the order they came.

SQLite serializes writers with one lock per database file. A writer that finds it taken sleeps
in steps that grow to 100 ms (SQLite's busy handler) and tries again; meanwhile the process
that holds it hands it from one of its threads to the next. Under a steady stream of event
batches from two API workers, one worker then wrote several batches in a row while a batch of
the other waited, and the slowest batches took about twice as long as the median
(``benchmarks/README.md``, issue 20). A writer now waits its turn twice, both times in line:

- in its process, behind the threads that asked before it (:class:`FairLock`);
- across processes, for an ``flock`` on a file beside the database (:class:`FileTurn`). A
  process waiting for it sleeps in the kernel and is woken when it is released, so the other
  process's next writer, which must first get its own process's turn, seldom takes it again
  first.

Both waits end at the writer's deadline (``write_timeout_s``): the store then answers
:class:`~recsys.errors.StoreBusyError` as before. A process that dies releases its ``flock``.

Small writes that must each be durable when they return (the API's events: a storefront posts
one per page view) also take turns as a group (:class:`GroupCommit`): the writes that queue
up while one transaction holds the lock go in together in the next, one commit (and one
``fsync``) for all of them. Each write still returns only once its rows are committed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class FairLock:
    """A re-entrant lock that hands itself to waiting threads in the order they asked.

    ``threading.Lock`` and ``RLock`` wake a waiting thread in no particular order, and the
    thread that just released may take the lock again before a woken one runs.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock, after the threads already waiting; False when ``timeout`` ran out."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._waiting:
                self._owner, self._depth = me, 1
                return True
            if not blocking:
                return False
            gate = threading.Lock()
            gate.acquire()
            self._waiting.append(gate)
        if gate.acquire(timeout=timeout):
            self._owner, self._depth = me, 1  # handed over by release()
            return True
        with self._mutex:
            if gate in self._waiting:  # still in line: leave it
                self._waiting.remove(gate)
                return False
        gate.acquire()  # released to this thread while its wait ran out: it is the owner now
        self._owner, self._depth = me, 1
        return True

    @property
    def waiting(self) -> int:
        """Threads in line for the lock now."""
        return len(self._waiting)

    def release(self) -> None:
        """Release one level; the last hands the lock to the thread that has waited longest."""
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a FairLock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            if self._waiting:
                self._owner = -1  # taken: nobody can jump the line before the next one runs
                self._waiting.popleft().release()
            else:
                self._owner = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Wait:
    """A blocking ``flock`` on a file of its own, in a helper thread, that a caller may give up.

    The lock is the caller's when it gets it while a caller still wants it; otherwise the helper
    lets go of it at once. A later caller may want it again (:meth:`FileTurn.acquire` keeps one
    such wait per process, so a process whose writes keep giving up starts no more threads).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._mutex = threading.Lock()
        self._got = threading.Event()
        self._wanted = True
        self.over = False  # the helper let go of the lock (or never got it): wait anew
        threading.Thread(target=self._run, name="recsys-write-turn", daemon=True).start()

    def _run(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)  # sleeps in the kernel until released
        except OSError:
            with self._mutex:
                self.over = True
            os.close(self.fd)
            return
        with self._mutex:
            if self._wanted:
                self._got.set()
                return
            self.over = True
        os.close(self.fd)  # closing the file lets go of its lock

    def wait(self, timeout: float) -> bool | None:
        """True: the lock is the caller's; False: not within ``timeout``; None: wait anew."""
        with self._mutex:
            if self.over:
                return None
            self._wanted = True
        if self._got.wait(timeout):
            return True
        with self._mutex:
            if self._got.is_set():
                return True
            self._wanted = False
        return False


class FileTurn:
    """An exclusive ``flock`` on ``path``, waited for until a deadline.

    Call it from one thread at a time (the store holds its :class:`FairLock` around it). A wait
    runs in a helper thread, so that it can end at the deadline; a wait given up there goes on
    and lets go of the lock as soon as it gets it, unless the next writer of this process takes
    it over. The lock belongs to the open file, so each wait opens the file anew.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._waiting: _Wait | None = None  # a wait given up at its deadline, still going on

    def acquire(self, timeout: float) -> bool:
        """Take the lock; False when another process held it for ``timeout`` seconds."""
        wait = self._waiting
        if wait is not None:
            got = wait.wait(timeout)
            if got is None:  # it ended: start anew
                self._waiting = None
            elif got:
                self._waiting, self._fd = None, wait.fd
                return True
            else:
                return False
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            wait = _Wait(fd)
            if wait.wait(timeout):
                self._fd = wait.fd
                return True
            self._waiting = wait
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Let go of the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


@dataclass(eq=False)
class _Ticket:
    """One write waiting in a :class:`GroupCommit`: what to write, and what came of it."""

    work: Any
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # set with ``done`` when the thread is to commit the next group itself
    value: Any = None
    error: BaseException | None = None


# commit(take) -> one result per work that take() returned (a value, or the exception raised)
GroupWriter = Callable[[Callable[[], list[Any]]], list[Any]]


class GroupCommit:
    """Writes that queue while another group is being committed are committed together.

    A storefront posts an event on every page view, each a transaction of its own that holds
    the write lock for a commit and an ``fsync``. Under 16 browsing shoppers the events of one
    API worker waited in line for the lock about 4-8 ms each, against a commit of well under
    one (``benchmarks/README.md``, issue 20, ninth pass). Here the first writer to find no
    group under way commits one, with every write queued by then (its own included); writes
    that arrive meanwhile queue, and when the group is committed the first of them commits the
    next group the same way. A write returns (or raises) only once the transaction that holds
    it has committed (or failed): nothing is acknowledged before it is durable.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._queue: list[_Ticket] = []
        self._leading = False

    def submit(self, work: Any, commit: GroupWriter) -> Any:
        """Write ``work`` with those queued beside it; return its result or raise its error.

        Args:
            work: what this caller writes (passed to ``commit`` through ``take``).
            commit: writes a group: ``commit(take)`` calls ``take()`` once, when it holds the
                write lock, for the works to write now (``work`` among them), and returns one
                result per work in that order: the value to return, or the exception to raise
                to that work's caller (an exception ``commit`` raises goes to them all).
        """
        ticket = _Ticket(work)
        with self._mutex:
            self._queue.append(ticket)
            lead = not self._leading
            self._leading = True
        if not lead:
            ticket.done.wait()
            lead = ticket.lead
        if lead:
            self._commit_group(commit)
        if ticket.error is not None:
            raise ticket.error
        return ticket.value

    def _commit_group(self, commit: GroupWriter) -> None:
        taken: list[_Ticket] = []

        def take() -> list[Any]:
            with self._mutex:
                taken.extend(self._queue)
                self._queue.clear()
            return [t.work for t in taken]

        try:
            results = commit(take)
            if len(results) != len(taken) or not taken:
                raise RuntimeError("a group commit must take its works once and answer each")
        except BaseException as exc:  # every write of the group failed with it
            if not taken:
                take()
            results = [exc] * len(taken)
        for ticket, result in zip(taken, results, strict=True):
            if isinstance(result, BaseException):
                ticket.error = result
            else:
                ticket.value = result
            ticket.lead = False
            ticket.done.set()
        with self._mutex:
            if self._queue:  # arrived while this group was committed: the first commits next
                following = self._queue[0]
                following.lead = True
                following.done.set()
            else:
                self._leading = False
