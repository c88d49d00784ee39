"""Login lockout under concurrency, and the rate limits of the password endpoints.

Review finding: the failure was recorded after the slow password check, so 40
concurrent wrong passwords answered 40 × 401 and no 429; on PostgreSQL two of them
answered 500 (duplicate key on the throttle row) and were not counted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from cloudtaskhub.errors import TooManyRequests
from cloudtaskhub.testing import ModuleHarness
from modules.auth import module as auth
from modules.auth.limits import PasswordRateLimit

ADA = {"email": "ada@example.com", "password": "correct horse battery", "display_name": "Ada"}


async def test_forty_concurrent_wrong_passwords_are_counted_before_the_check(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        [auth], database_url=database_url, data_dir=str(tmp_path), password_requests_per_second=1000
    ) as harness:
        await harness.post("/api/v1/auth/register", json=ADA)

        answers = await asyncio.gather(
            *(
                harness.post("/api/v1/auth/login", json={"email": ADA["email"], "password": f"guess-{n:04d}"})
                for n in range(40)
            )
        )
        right_password = await harness.post("/api/v1/auth/login", json=ADA)

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {
        401: harness.settings.login_max_failures,
        429: 40 - harness.settings.login_max_failures,
    }
    assert right_password.status_code == 429


async def test_a_right_password_clears_the_count(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([auth], database_url=database_url, data_dir=str(tmp_path)) as harness:
        await harness.post("/api/v1/auth/register", json=ADA)
        wrong = {"email": ADA["email"], "password": "wrong password!"}
        for _ in range(harness.settings.login_max_failures - 1):
            await harness.post("/api/v1/auth/login", json=wrong)

        cleared = await harness.post("/api/v1/auth/login", json=ADA)
        after = [
            (await harness.post("/api/v1/auth/login", json=wrong)).status_code
            for _ in range(harness.settings.login_max_failures)
        ]

    assert cleared.status_code == 200
    assert after == [401] * harness.settings.login_max_failures


async def test_the_lockout_ends_after_its_time(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([auth], database_url=database_url, data_dir=str(tmp_path)) as harness:
        await harness.post("/api/v1/auth/register", json=ADA)
        wrong = {"email": ADA["email"], "password": "wrong password!"}
        for _ in range(harness.settings.login_max_failures + 1):
            await harness.post("/api/v1/auth/login", json=wrong)
        locked = await harness.post("/api/v1/auth/login", json=ADA)

        harness.clock.advance(timedelta(seconds=harness.settings.login_lockout_seconds + 1))
        unlocked = await harness.post("/api/v1/auth/login", json=ADA)

    assert locked.status_code == 429
    assert unlocked.status_code == 200


async def test_password_endpoints_are_rate_limited_per_client(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        [auth], database_url=database_url, data_dir=str(tmp_path), password_requests_per_client_per_minute=3
    ) as harness:
        registered = await harness.post("/api/v1/auth/register", json=ADA)
        logins = [(await harness.post("/api/v1/auth/login", json=ADA)).status_code for _ in range(3)]
        refused_register = await harness.post(
            "/api/v1/auth/register", json={**ADA, "email": "bo@example.com"}
        )

    assert registered.status_code == 201
    assert logins == [200, 200, 429]
    assert refused_register.status_code == 429
    assert refused_register.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(refused_register.headers["retry-after"]) <= 60


def test_the_global_limit_holds_across_clients_until_the_next_second() -> None:
    now = [100.0]
    limit = PasswordRateLimit(per_client_per_minute=100, per_second=3, monotonic=lambda: now[0])

    admitted = [_admitted(limit, f"198.51.100.{n}") for n in range(5)]
    now[0] += 1.0
    next_second = _admitted(limit, "198.51.100.9")

    assert admitted == [True, True, True, False, False]
    assert next_second is True


def test_the_per_client_limit_reopens_after_a_minute() -> None:
    now = [100.0]
    limit = PasswordRateLimit(per_client_per_minute=2, per_second=100, monotonic=lambda: now[0])

    same_client = [_admitted(limit, "203.0.113.1") for _ in range(3)]
    other_client = _admitted(limit, "203.0.113.2")
    now[0] += 60.0
    next_minute = _admitted(limit, "203.0.113.1")

    assert same_client == [True, True, False]
    assert other_client is True
    assert next_minute is True


def _admitted(limit: PasswordRateLimit, client: str) -> bool:
    try:
        limit.admit(client)
    except TooManyRequests:
        return False
    return True
