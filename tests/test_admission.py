"""Admission's bookkeeping on its own (an asyncio loop, no server): FIFO order, the budget, deadlines
and the places held for refused clients. The service tests exercise the same class under gunicorn."""

from __future__ import annotations

import asyncio
import time

import pytest

from rembg_core.server.admission import Admission, Overloaded, Shed, TooCostly


def test_places_are_held_for_refused_clients_so_returning_keep_alive_requests_wait_their_turn():
    adm = Admission(slots=1, max_queue=1, budget_bytes=100)
    adm.enter(fresh=True)
    adm.enter(fresh=True)
    with pytest.raises(Overloaded):  # full: this client is refused and a place is held for it
        adm.enter(fresh=True)
    adm.leave()  # someone finished; its client comes straight back on its kept-alive connection
    with pytest.raises(Overloaded):
        adm.enter(fresh=False)
    adm.enter(fresh=True)  # the refused client, back on a new connection, gets the held place
    assert adm.stats().admitted == 3 and adm.stats().rejected == 2


def test_held_places_expire():
    adm = Admission(slots=1, max_queue=0, budget_bytes=100, hold_seconds=0.01)
    adm.enter()
    with pytest.raises(Overloaded):
        adm.enter()
    adm.leave()
    time.sleep(0.02)
    adm.enter(fresh=False)  # nobody came back for the held place: a returning client may take it


def test_fifo_budget_deadline_and_too_costly():
    async def scenario() -> list:
        adm = Admission(slots=3, max_queue=8, budget_bytes=100)
        order: list[str] = []
        release = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def job(name: str, cost: int, deadline: float = 60.0):
            def work() -> str:
                order.append(name)
                asyncio.run_coroutine_threadsafe(release.wait(), loop).result()
                return name
            return await adm.run(work, cost, time.monotonic() + deadline)

        big = asyncio.create_task(job("big", 70))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(job("second", 60))  # over the budget beside `big`: waits
        await asyncio.sleep(0.05)
        small = asyncio.create_task(job("small", 10))  # would fit, but must not overtake `second`
        await asyncio.sleep(0.05)
        assert order == ["big"] and adm.stats().queued == 2 and adm.stats().reserved_bytes == 70
        with pytest.raises(Shed):  # a 10 ms deadline cannot be met behind the queue
            await job("late", 10, deadline=0.01)
        with pytest.raises(TooCostly):
            await job("huge", 101)
        release.set()
        results = [await t for t in (big, second, small)]
        adm.close()
        return [order, [r[0] for r in results]]

    order, results = asyncio.run(scenario())
    assert order == ["big", "second", "small"] and results == ["big", "second", "small"]
