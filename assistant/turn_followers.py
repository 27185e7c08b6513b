"""Following a running turn: what every page that shows it reads, as Server-Sent Events.

`follow(turn_key, user, current, after)` relays the turn's events, each with its id: from
this process's own copy when its event loop runs the turn (assistant.local_turns), else from
the turn channel; from the first (the turn's reset, which clears what the page showed of it) or
from the one after `after` (a follower reconnecting with Last-Event-ID: no gap and no
duplicate), to the end, then `stream.DONE`. `started(turn, page)` is the response to the
request that started the turn: the question and the turn's place on the page first, then the
same events after the reset.

When the events cannot be had (the turn expired, or was never published: the turn ran on a
worker that was not configured with a shared channel), the follower sends the turn as stored
instead and, while it is still being written, a follower that tries again shortly.

A turn whose worker died (its host went away) publishes nothing more. While a process
follows turns, one task of its own (`_LostTurns`) looks every TURN_HEARTBEAT_SECONDS for
those whose answer lost its heartbeat, in one query for all of them; the first process to
find one stores its answer as interrupted and ends the turn for every follower.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing, contextmanager

from asgiref.sync import sync_to_async
from django.db import DatabaseError

from ai_settings.current import CurrentSettings
from assistant import display, heartbeat, local_turns, stream, turn_channel, turn_tasks
from assistant.per_loop import PerLoop
from assistant.turn_types import Turn
from prompts.users import User

logger = logging.getLogger(__name__)


async def started(
    turn: Turn, page: dict[str, object], *, reset_id: int | None = None, launch: bool = False
) -> AsyncGenerator[bytes, None]:
    """The response to the request that started the turn, whose reset has id `reset_id`
    (the turn's place on the page shows the same: the events after it follow). With
    `launch`, the turn is started here, when the response starts: under WSGI (Django's
    runserver, its sync test client) the view's event loop ends with the view, and the turn
    must run on the one that serves the response."""
    if launch:
        reset_id = await turn_tasks.launch(turn)
    yield stream.turn_started_event(turn, page)
    async with aclosing(follow(turn.key, turn.user, turn.current, reset_id)) as events:
        async for event in events:
            yield event


async def follow(
    turn_key: str, user: User, current: CurrentSettings, after: int | None = None
) -> AsyncGenerator[bytes, None]:
    """The turn's events after `after` (None: all of them), then DONE. The caller checked the
    turn is the user's."""
    local = local_turns.running_here(turn_key)
    try:
        if local is not None:
            async with aclosing(local.follow(after)) as events:
                async for event_id, payload in events:
                    yield stream.sse(payload, event_id)
            if local.broken:
                yield await _stored(turn_key, user, current)
        else:
            with _lost.get().watching(turn_key, user, current):
                async with aclosing(turn_channel.follow(turn_key, after)) as events:
                    async for event_id, payload in events:
                        yield stream.sse(payload, event_id)
    except (turn_channel.TurnNotFound, turn_channel.ReplayUnavailable):
        yield await _stored(turn_key, user, current)
    except Exception:  # the channel's backends raise their clients' errors
        logger.warning("Following turn %s failed; showing it as stored", turn_key, exc_info=True)
        yield await _stored(turn_key, user, current)
    yield stream.DONE


async def _stored(turn_key: str, user: User, current: CurrentSettings) -> bytes:
    stored = await sync_to_async(display.stored_turn)(turn_key, user, current)
    return stream.sse(stream.settled_fragment(stored))


class _LostTurns:
    """The turns followed on one event loop, and the task that looks for lost ones while
    there are any."""

    def __init__(self) -> None:
        # turn key -> (followers here, the user and settings to render its stored answer)
        self._followed: dict[str, tuple[int, User, CurrentSettings]] = {}
        self._task: asyncio.Task[None] | None = None

    @contextmanager
    def watching(self, turn_key: str, user: User, current: CurrentSettings) -> Iterator[None]:
        count = self._followed.get(turn_key, (0, user, current))[0]
        self._followed[turn_key] = (count + 1, user, current)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), context=contextvars.Context()
            )
        try:
            yield
        finally:
            count, user, current = self._followed[turn_key]
            if count > 1:
                self._followed[turn_key] = (count - 1, user, current)
            else:
                del self._followed[turn_key]

    async def _run(self) -> None:
        while self._followed:
            await asyncio.sleep(heartbeat.heartbeat_seconds())
            if not self._followed:
                return
            try:
                lost = await sync_to_async(heartbeat.lost_turns, thread_sensitive=False)(
                    list(self._followed)
                )
                for turn_key in lost:
                    await self._end(turn_key)
            except DatabaseError:
                logger.warning("Looking for lost chat turns failed; trying again", exc_info=True)

    async def _end(self, turn_key: str) -> None:
        """Store the lost turn as interrupted and tell its followers, unless another process
        got there first (it tells them)."""
        followed = self._followed.get(turn_key)
        if followed is None:
            return
        _, user, current = followed
        if not await sync_to_async(heartbeat.interrupt_turn, thread_sensitive=False)(turn_key):
            return
        stored = await sync_to_async(display.stored_turn, thread_sensitive=False)(
            turn_key, user, current
        )
        try:
            await turn_channel.publish(turn_key, stream.settled_fragment(stored))
            await turn_channel.finish(turn_key)
        except turn_channel.TurnFinished:
            pass  # the worker finished it after all
        except Exception:  # the channel's backends raise their clients' errors
            logger.warning("Could not end lost turn %s in the channel", turn_key, exc_info=True)


_lost = PerLoop(_LostTurns)
