"""Live updates: one poller per console process follows the store's event log and the
patrols' status reports, and fans each change out to every open page (server-sent events).

Following the store rather than the receiver in memory is what lets the receiver and the
console run as separate processes, and several consoles share one PostgreSQL store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from console.store import ConsoleStore

log = logging.getLogger(__name__)

POLL_S = 0.1
KEEPALIVE_S = 15.0
QUEUE_SIZE = 2000  # a page this far behind is dropped; it reconnects and catches up


class Broadcaster:
    def __init__(self, store: ConsoleStore, poll_s: float = POLL_S) -> None:
        self.store = store
        self.poll_s = poll_s
        self._subscribers: set[asyncio.Queue[tuple[int | None, str, str]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._event_id = 0
        self._track_seq = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event_id = await run_in_threadpool(self.store.last_event_id)
        self._track_seq = await run_in_threadpool(self.store.last_track_seq)
        self._task = asyncio.create_task(self._run())

    def end_streams(self) -> None:
        """End every open stream (thread-safe): a server shutting down does not wait for them."""
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._end_all)

    def _end_all(self) -> None:
        for queue in list(self._subscribers):
            self._subscribers.discard(queue)
            if queue.full():
                queue.get_nowait()
            queue.put_nowait((None, "overflow", "{}"))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._poll()
            except Exception:  # a busy or restarting database: keep following
                log.exception("following the station store failed")
                await asyncio.sleep(1.0)
            await asyncio.sleep(self.poll_s)

    async def _poll(self) -> None:
        if not self._subscribers:  # nobody to tell: only keep our place
            self._event_id = await run_in_threadpool(self.store.last_event_id)
            self._track_seq = await run_in_threadpool(self.store.last_track_seq)
            return
        events = await run_in_threadpool(self.store.events_since, self._event_id)
        for event in events:
            self._event_id = event["id"]
            self._publish(event["id"], event["kind"], json.dumps(event, ensure_ascii=False))
        tracks = await run_in_threadpool(self.store.tracks_since, self._track_seq)
        for report in tracks:
            self._track_seq = report["seq"]
            self._publish(None, "vehicle", json.dumps(report, ensure_ascii=False))

    def _publish(self, event_id: int | None, kind: str, data: str) -> None:
        for queue in list(self._subscribers):
            if queue.full():  # end that stream: the page reconnects and catches up
                self._subscribers.discard(queue)
                queue.get_nowait()
                queue.put_nowait((None, "overflow", "{}"))
            else:
                queue.put_nowait((event_id, kind, data))

    async def stream(self, since: int | None) -> AsyncIterator[str]:
        """The SSE text for one page: what it missed after event ``since``, then live."""
        queue: asyncio.Queue[tuple[int | None, str, str]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            sent = since or 0
            yield "retry: 1000\n\n"
            if since is not None:
                while True:  # catch up from the store, in pages
                    missed = await run_in_threadpool(self.store.events_since, sent)
                    for event in missed:
                        sent = event["id"]
                        yield _sse(sent, event["kind"], json.dumps(event, ensure_ascii=False))
                    if len(missed) < 500:
                        break
            while True:
                try:
                    event_id, kind, data = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if kind == "overflow":
                    return
                if event_id is not None:
                    if event_id <= sent:
                        continue  # already sent while catching up
                    sent = event_id
                yield _sse(event_id, kind, data)
        finally:
            self._subscribers.discard(queue)


def _sse(event_id: int | None, kind: str, data: str) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {data}\n\n"
