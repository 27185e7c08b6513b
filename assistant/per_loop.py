"""One object per running event loop, for what holds tasks or connections of the loop that
made them: the SDK clients, the stream watch, the turn channel, the watch for lost turns. A
test run makes a loop per test; a server, one per worker."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()  # loops of several threads (a sync test's, a worker's)

    def get(self) -> T:
        """The running loop's object, made on first use."""
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._by_loop.get(loop)
            if found is None:
                found = self._by_loop[loop] = self._factory()
            return found

    def discard(self) -> T | None:
        """The running loop's object, if it has one, forgotten: its owner closes it."""
        with self._lock:
            return self._by_loop.pop(asyncio.get_running_loop(), None)

    def clear(self) -> None:
        """Forget them all: the next use on each loop makes a new one."""
        with self._lock:
            self._by_loop.clear()
