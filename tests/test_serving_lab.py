"""The Serving Lab page headless (AppTest): a real server started, loaded and stopped from the page."""

from __future__ import annotations

import re
import time

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

pytestmark = [pytest.mark.model, pytest.mark.slow]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def server_pids(at: AppTest) -> list[int]:
    text = " ".join(s.value for s in at.success)
    master = re.search(r"master pid (\d+)", text)
    workers = re.search(r"workers ([\d, ]+)", text)
    assert master and workers, text
    return [int(master.group(1))] + [int(w) for w in workers.group(1).replace(",", " ").split()]


def gone(pids: list[int], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_start_load_restart_and_stop(model_path):
    at = AppTest.from_file(str(ROOT / "pages" / "serving_lab.py"), default_timeout=240).run()
    assert not at.exception and at.title[0].value == "Serving Lab"
    assert any("No server running" in i.value for i in at.info)
    at.number_input(key="sl_workers").set_value(1)
    button(at, "Start server").click().run()
    assert not at.exception, [e.value for e in at.exception]
    first = server_pids(at)
    try:
        assert len(first) == 2 and all(psutil.pid_exists(p) for p in first)
        at.number_input(key="sl_clients").set_value(2)
        at.number_input(key="sl_amount").set_value(4)
        button(at, "Run load").click().run()
        assert not at.exception, [e.value for e in at.exception]
        rows = at.dataframe[-1].value
        assert len(rows) == 1 and rows.iloc[0]["requests"] == 4 and rows.iloc[0]["peak PSS MB"] > 0
        per_worker = at.dataframe[0].value  # requests per worker, and the malloc its maps show
        assert list(per_worker["worker pid"]) == first[1:] and list(per_worker["allocator"]) == ["glibc"]
        ok = re.search(r"200: (\d+)", rows.iloc[0]["status"])
        assert per_worker["200s"].sum() == (int(ok.group(1)) if ok else 0)
        assert any("requests answered 200" in c.value for c in at.caption)  # the percentiles' sample
        # a second visitor (another session of the same server) sees whose server it is and cannot stop it
        other = AppTest.from_file(str(ROOT / "pages" / "serving_lab.py"), default_timeout=240).run()
        assert any("belongs to another visitor" in w.value for w in other.warning)
        assert not [b for b in other.button if b.label == "Stop server"]
        assert not other.dataframe  # the first visitor's runs are theirs
        assert not [b for b in other.button if "server" in b.label.lower()]  # no Start or Stop over theirs
        assert set(rows.iloc[0]["status"].replace(",", " ").split()) <= {"200:", "503:", "1", "2", "3", "4"}
        at.radio(key="sl_until").set_value("seconds").run()
        at.number_input(key="sl_amount").set_value(2)
        button(at, "Run load").click().run()
        assert not at.exception, [e.value for e in at.exception]
        rows = at.dataframe[-1].value
        assert len(rows) == 2 and rows.iloc[1]["requests"] >= 1
        # starting another stops the first
        button(at, "Restart server with these").click().run()
        second = server_pids(at)
        assert gone(first) and second[0] != first[0]
        button(at, "Stop server").click().run()
        assert gone(second)
        assert any("No server running" in i.value for i in at.info)
    finally:
        for pid in first + locals().get("second", []):
            if psutil.pid_exists(pid):
                psutil.Process(pid).kill()
