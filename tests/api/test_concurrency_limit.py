"""At most MAX_CONCURRENT_REQUESTS requests of a process are inside the app at once."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

from app.api.limits import ConcurrencyLimitMiddleware
from app.settings import Settings, settings_problems


class CountingApp:
    """An ASGI app that records how many requests are inside it at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.peak = 0
        self.done = 0
        self.gate = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            await self.gate.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        finally:
            self.inside -= 1
            self.done += 1


def http(path: str) -> Scope:
    return {"type": "http", "method": "GET", "path": path, "headers": []}


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    pass


def test_requests_beyond_the_limit_wait_and_all_are_answered() -> None:
    async def scenario() -> CountingApp:
        app = CountingApp()
        limited = ConcurrencyLimitMiddleware(app, limit=3)
        tasks = [asyncio.create_task(limited(http("/api/v1/visits"), receive, send))
                 for _ in range(20)]
        await asyncio.sleep(0.05)
        assert app.inside == 3  # the other 17 wait outside the app
        app.gate.set()
        await asyncio.gather(*tasks)
        return app

    app = asyncio.run(scenario())
    assert app.peak == 3
    assert app.done == 20


def test_liveness_never_waits_for_a_slot() -> None:
    async def scenario() -> None:
        app = CountingApp()
        limited = ConcurrencyLimitMiddleware(app, limit=1)
        busy = asyncio.create_task(limited(http("/api/v1/visits"), receive, send))
        await asyncio.sleep(0.01)
        health = asyncio.create_task(limited(http("/healthz"), receive, send))
        queued = asyncio.create_task(limited(http("/readyz"), receive, send))
        await asyncio.sleep(0.05)
        assert app.inside == 2  # the busy request and /healthz; /readyz waits
        app.gate.set()
        await asyncio.gather(busy, health, queued)
        assert app.done == 3

    asyncio.run(scenario())


def test_a_slot_is_given_back_when_the_app_fails() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        limited = ConcurrencyLimitMiddleware(failing, limit=1)
        for _ in range(3):  # would hang on the second call if the slot leaked
            with pytest.raises(RuntimeError):
                await asyncio.wait_for(limited(http("/api/v1/visits"), receive, send), 1)

    asyncio.run(scenario())


def test_the_pool_must_hold_a_connection_for_every_request_in_progress() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(db_pool_size=2, db_max_overflow=1, max_concurrent_requests=4)
    assert settings_problems(caught.value) == (
        "DB_POOL_SIZE + DB_MAX_OVERFLOW must be at least MAX_CONCURRENT_REQUESTS:"
        " each request in progress holds one database connection"
    )
    assert Settings(db_pool_size=2, db_max_overflow=2, max_concurrent_requests=4)


def test_settings_problems_name_the_variables() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(max_concurrent_requests=0)
    assert settings_problems(caught.value).startswith("MAX_CONCURRENT_REQUESTS: ")
