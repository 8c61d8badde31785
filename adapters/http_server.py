"""uvicorn's server without its ten-a-second tick, for processes that sit idle most of the day."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from types import FrameType

import uvicorn


class QuietServer(uvicorn.Server):
    """A `uvicorn.Server` whose main loop wakes once a second instead of ten times, and at once to stop.

    uvicorn's loop sleeps 0.1 s between looks at `should_exit` (refreshing the Date header every tenth look): the
    API and the demo's thirteen provider simulators, fourteen idle servers in `serve --seed`, woke 140 times a
    second and spent ~1.7 % of a CPU on it. Here the loop sleeps on an event that `exit()` and the signal handler
    set, with a one-second timeout for the Date header and the request limit; each turn counts as ten of
    uvicorn's, so `on_tick` refreshes the header every turn.
    """

    TICK_SECONDS = 1.0

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._woken = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000
            tick = self._loop.call_later(self.TICK_SECONDS, self._woken.set)  # no task a turn, as wait_for makes
            await self._woken.wait()
            tick.cancel()
            self._woken.clear()
            should_exit = await self.on_tick(counter)

    def exit(self) -> None:
        """Stop serving (from any thread): the loop sees it at once, not at its next tick."""
        self.should_exit = True
        self._wake()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._wake()

    def _wake(self) -> None:
        loop, woken = self._loop, self._woken
        if loop is not None and woken is not None:
            with suppress(RuntimeError):  # the loop has closed: the server has stopped already
                loop.call_soon_threadsafe(woken.set)
