"""PostgreSQL connections dropped under load (every backend of our database
terminated, again and again, for a few seconds) while a client writes and reads.

While it lasts a request succeeds or answers 503 problem+json, never 500; after it,
the same process recovers by itself, and nothing is half-written: every committed
task has its notification, its analytics count and its billing count, exactly once.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from entrypoints.split import Child, grant_admin
from tests.reliability.conftest import psql
from tests.reliability.support import FAULT_TEST_TIMEOUT, AllInOne, Api, Load, Outcomes, Team, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(FAULT_TEST_TIMEOUT)]

ADMIN = "admin-reliability@example.com"
MODULES_WITH_ADMIN = ("auth", "projects", "billing", "notifications", "analytics")
FAULT_SECONDS = 6.0


@pytest.fixture
def server(postgres_database: str, tmp_path: Path) -> Iterator[tuple[str, Child, str]]:
    app = AllInOne(tmp_path, {"CTH_DATABASE_URL": postgres_database, "CTH_BUS": "memory"})
    try:
        child = app.start()
        api = Api(app.url)
        admin = api.register_as(ADMIN)
        api.close()
        grant_admin(ADMIN, app.env)  # as an operator does on the server
        yield app.url, child, admin.id
    finally:
        app.stop()


def terminate_backends_for(seconds: float) -> subprocess.Popen[bytes]:
    """Kill every connection to our database every 100 ms for `seconds` (psql, in the background)."""
    database = psql("SELECT current_database()").strip()
    where = f"datname = '{database}' AND pid <> pg_backend_pid()"
    statement = f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {where}"  # noqa: S608
    script = (
        f"end=$((SECONDS+{int(seconds)})); n=0; while [ $SECONDS -lt $end ]; do "
        f'psql -X -q -t -A -h 127.0.0.1 -U postgres -d {database} -c "{statement}" >/dev/null; '
        "n=$((n+1)); sleep 0.1; done; echo $n"
    )
    return subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE)


def _mixed(team: Team) -> object:
    def work(n: int, outcomes: Outcomes, http: httpx.Client) -> None:
        if n % 2 == 0:
            team.create_task(n, outcomes, http)
        else:
            outcomes.record(
                "list tasks",
                lambda: http.get(f"/api/v1/projects/{team.project}/tasks", headers=team.owner.headers),
            )

    return work


def test_dropped_database_connections_answer_503_then_recover_with_nothing_half_written(
    server: tuple[str, Child, str],
) -> None:
    url, child, admin_id = server
    api = Api(url)
    team = Team.form(api)

    with Load(url, _mixed(team), threads=4) as load:  # type: ignore[arg-type]
        eventually(lambda: load.outcomes.ok >= 40, "load before the fault", timeout=60)
        before = load.outcomes.requests
        terminator = terminate_backends_for(FAULT_SECONDS)
        rounds = int((terminator.communicate(timeout=FAULT_SECONDS + 30)[0] or b"0").strip())
        fault_ended, during = time.monotonic(), load.outcomes.requests - before
        ok_at_end = load.outcomes.ok
        eventually(lambda: load.outcomes.ok >= ok_at_end + 20, "successful requests after the fault", 60)
        recovered_after = time.monotonic() - fault_ended
    print(
        f"backends terminated {rounds} times over {FAULT_SECONDS:.0f}s; {during} requests during the fault; "
        f"{load.outcomes.summary()}; recovered {recovered_after:.1f}s after the fault"
    )
    for sample in load.outcomes.dirty[:5]:
        print("  dirty:", sample)

    assert load.outcomes.dirty == []
    assert load.outcomes.clean["503 problem+json"] > 0  # the fault did reach requests
    assert child.alive()  # recovered without a restart
    assert api.http.get("/health/ready").status_code == 200
    team.verify_exactly_once("database fault")
    admin = api.login_as(ADMIN, admin_id)
    dead = {m: api.get(f"/api/v1/{m}/admin/dead-letters", admin)["items"] for m in MODULES_WITH_ADMIN}
    assert {m: items for m, items in dead.items() if items} == {}
    api.close()
