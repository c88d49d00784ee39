#!/usr/bin/env python3
"""Smoke test of a running CloudTaskHub, through its public entry (Traefik) or one process.

    python3 deploy/smoke.py [--edge] [--insecure] [--timeout 180] https://tasks.example.com

Read-only: it creates nothing. Each check names a module, so a route that reaches the
wrong module (or no module) fails: an unauthenticated call to a protected path must be
answered 401 by the module that owns it, which a missing route (404) or a dead backend
(502/503/504) is not. Every check is retried until the deadline, so the script can run
right after `docker stack deploy` while tasks converge. Standard library only: it runs on
a CI runner, a Swarm manager or inside the test image. Exit status 0 when every check
passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

NIL_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str

    def json(self) -> object:
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class Check:
    module: str
    path: str
    expect: Callable[[Answer], bool]
    describe: str


def _json_with(key: str) -> Callable[[Answer], bool]:
    def accept(answer: Answer) -> bool:
        if answer.status != 200:
            return False
        try:
            document = answer.json()
        except ValueError:
            return False
        return isinstance(document, dict) and key in document

    return accept


def _status(*statuses: int) -> Callable[[Answer], bool]:
    return lambda answer: answer.status in statuses


def checks(edge: bool) -> list[Check]:
    """What a healthy deployment answers, module by module."""
    found = [
        Check("gateway", "/health/ready", _status(200), "200 (database and bus usable)"),
        Check("gateway", "/", _json_with("name"), "200 API index with a name"),
        Check("auth", "/api/v1/auth/jwks", _json_with("keys"), "200 JSON Web Key Set"),
        Check("auth", "/api/v1/auth/me", _status(401), "401 without a token"),
        Check("project", "/api/v1/projects", _status(401), "401 without a token"),
        Check("project", f"/api/v1/tasks/{NIL_UUID}", _status(401), "401 without a token"),
        Check("billing", "/api/v1/billing/subscription", _status(401), "401 without a token"),
        Check("notification", "/api/v1/notifications", _status(401), "401 without a token"),
        Check("analytics", "/api/v1/analytics/me", _status(401), "401 without a token"),
        Check("gateway", "/api/v1/dashboard", _status(401), "401 without a token"),
    ]
    if edge:
        # Process metrics are for Prometheus on the internal network only.
        found.append(Check("traefik", "/metrics", _status(403), "403 at the edge"))
    return found


def fetch(base_url: str, path: str, context: ssl.SSLContext | None, timeout: float) -> Answer:
    request = urllib.request.Request(  # noqa: S310 - the operator names the URL
        base_url.rstrip("/") + path, headers={"Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            return Answer(response.status, response.read(), response.headers.get_content_type())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read(), error.headers.get_content_type())


def run(base_url: str, *, edge: bool, insecure: bool, timeout: float, interval: float) -> bool:
    context = None
    if base_url.startswith("https://"):
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    pending = checks(edge)
    last: dict[str, str] = {}
    while True:
        still: list[Check] = []
        for check in pending:
            try:
                answer = fetch(base_url, check.path, context, timeout=10)
            except (OSError, urllib.error.URLError) as error:
                last[check.path] = f"no answer ({error})"
                still.append(check)
                continue
            if check.expect(answer):
                print(f"ok    {check.module:<12} GET {check.path} -> {answer.status}")
            else:
                last[check.path] = f"{answer.status} {answer.content_type}"
                still.append(check)
        pending = still
        if not pending:
            return True
        if time.monotonic() >= deadline:
            for check in pending:
                print(
                    f"FAIL  {check.module:<12} GET {check.path}: expected {check.describe},"
                    f" got {last.get(check.path, 'nothing')}"
                )
            return False
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("base_url", help="e.g. https://tasks.example.com or http://app:8000")
    parser.add_argument("--edge", action="store_true", help="the URL is Traefik: check edge rules")
    parser.add_argument("--insecure", action="store_true", help="accept any TLS certificate")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds until giving up")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between rounds")
    args = parser.parse_args(argv)
    passed = run(
        args.base_url,
        edge=args.edge,
        insecure=args.insecure,
        timeout=args.timeout,
        interval=args.interval,
    )
    print("smoke test passed" if passed else "smoke test FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
