"""GET /ready means the same from every worker and stays true under traffic: a
readiness probe that met a worker whose sandbox had not started, or one whose waiting
child a request had just taken, used to get 503 after the server had said 200."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.conftest import BELL_PYTHON
from tests.serving import served


def test_once_ready_every_worker_answers_ready_also_while_programs_run(tmp_path: Path) -> None:
    with served("validate", tmp_path, ready_timeout=90, WORKERS="2") as (_, base):

        def program(_: int) -> bool:
            answer = requests.post(f"{base}/validate", json={"code": BELL_PYTHON}, timeout=60)
            return bool(answer.json()["valid"])

        with ThreadPoolExecutor(4) as pool:
            running = pool.map(program, range(12))
            # Probes spread over both workers while programs take their children.
            probes = [requests.get(f"{base}/ready", timeout=10).status_code for _ in range(40)]
            valid = list(running)
    assert probes == [200] * 40
    assert valid == [True] * 12
