"""Webhooks: registration rules, signed deliveries, retries with backoff, SSRF refusal."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import httpx
import pytest

from cloudtaskhub.clock import new_id
from cloudtaskhub.testing import ModuleHarness
from modules.notification import module as notification
from modules.project.contracts import MemberAdded, TaskAssigned
from tests.modules.notification.conftest import ENVIRON, attempts_of, delivery_status, register
from tests.modules.notification.servers import Receiver, serving


async def _assign(harness, task, assignee, by):  # type: ignore[no-untyped-def]
    return await harness.publish(
        TaskAssigned(
            task_id=task.task_id, project_id=task.project_id, assignee_id=assignee.id, assigned_by=by.id
        )
    )


async def test_delivery_is_a_post_signed_with_the_webhook_secret(harness, alice, bob, task):  # type: ignore[no-untyped-def]
    receiver = Receiver()
    async with serving(receiver) as url:
        webhook = await register(harness, bob, f"{url}/hook")

        envelope = await _assign(harness, task, bob, alice)
        [request] = await receiver.wait_for(1)

    timestamp, _, signature = request.headers["x-cloudtaskhub-signature"].partition(",")
    t = timestamp.removeprefix("t=")
    expected = hmac.new(
        webhook["secret"].encode(), f"{t}.".encode() + request.body, hashlib.sha256
    ).hexdigest()
    assert signature == f"v1={expected}"
    cloudevent = json.loads(request.body)
    assert (cloudevent["id"], cloudevent["type"]) == (
        str(envelope.id),
        "cloudtaskhub.project.task_assigned.v1",
    )
    assert cloudevent["data"]["assignee_id"] == str(bob.id)
    [attempt] = await attempts_of(harness, bob, webhook["id"], 1)
    assert (attempt["event_id"], attempt["status_code"], attempt["attempt"], attempt["error"]) == (
        str(envelope.id),
        200,
        1,
        None,
    )


async def test_failed_deliveries_are_retried_with_growing_delays(harness, alice, bob, task):  # type: ignore[no-untyped-def]
    receiver = Receiver(script=[500, 500, 200])
    async with serving(receiver) as url:
        webhook = await register(harness, bob, url)

        await _assign(harness, task, bob, alice)
        requests = await receiver.wait_for(3)
        attempts = await attempts_of(harness, bob, webhook["id"], 3)

    first_gap, second_gap = requests[1].at - requests[0].at, requests[2].at - requests[1].at
    # Lower bounds only: a busy machine stretches any gap, so comparing the two measured
    # gaps fails when the first was stretched. A delay that did not grow keeps the second
    # gap near the base and fails the second bound.
    assert first_gap >= 0.2  # backoff base (test setting)
    assert second_gap >= 0.4  # twice the base
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert attempts[0]["error"] == "HTTP 500"


async def test_attempts_stop_at_the_configured_maximum(database_url, tmp_path):  # type: ignore[no-untyped-def]
    environ = {
        **ENVIRON,
        "CTH_NOTIFICATION_WEBHOOK_MAX_ATTEMPTS": "2",
        "CTH_NOTIFICATION_WEBHOOK_BACKOFF_BASE_SECONDS": "0.05",
    }
    receiver = Receiver(script=[503] * 10)
    async with ModuleHarness(
        [notification], database_url=database_url, data_dir=str(tmp_path), environ=environ
    ) as h:
        bob = h.user("bob@example.com")
        async with serving(receiver) as url:
            webhook = await register(h, bob, url, ["member_added"])

            await h.publish(MemberAdded(project_id=new_id(), user_id=bob.id, role="member"))
            status = await delivery_status(h, until="failed")
            attempts = await attempts_of(h, bob, webhook["id"], 2)

    assert status == "failed"
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 503), (2, 503)]
    assert len(receiver.requests) == 2


async def test_a_hanging_receiver_does_not_hold_up_other_deliveries(harness, alice, bob, task):  # type: ignore[no-untyped-def]
    stuck = Receiver(hold=asyncio.Event())
    fine = Receiver()
    async with serving(stuck) as stuck_url, serving(fine) as fine_url:
        await register(harness, bob, stuck_url)
        await register(harness, bob, fine_url)

        await _assign(harness, task, bob, alice)
        await fine.wait_for(1)
        await stuck.wait_for(1)

        assert len(fine.requests) == 1
        assert (await harness.get("/api/v1/notifications", user=bob)).json()["items"]  # consumer went on
        stuck.hold.set()


async def test_only_matching_event_types_are_delivered(harness, alice, bob, task):  # type: ignore[no-untyped-def]
    receiver = Receiver()
    async with serving(receiver) as url:
        webhook = await register(harness, bob, url, ["member_added"])

        await _assign(harness, task, bob, alice)
        await harness.publish(MemberAdded(project_id=task.project_id, user_id=bob.id, role="member"))
        [request] = await receiver.wait_for(1)

    assert json.loads(request.body)["type"] == "cloudtaskhub.project.member_added.v1"
    assert len(await attempts_of(harness, bob, webhook["id"], 1)) == 1


@pytest.mark.parametrize("target", ["http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data"])
async def test_private_and_link_local_targets_are_refused(harness, bob, target):  # type: ignore[no-untyped-def]
    response = await harness.post(
        "/api/v1/notifications/webhooks", json={"url": target, "event_types": ["task_assigned"]}, user=bob
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "url"


async def test_loopback_is_refused_unless_configured(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([notification], database_url=database_url, data_dir=str(tmp_path)) as h:
        bob = h.user("bob@example.com")

        response = await h.post(
            "/api/v1/notifications/webhooks",
            json={"url": "http://127.0.0.1:9/", "event_types": ["task_done"]},
            user=bob,
        )

    assert response.status_code == 422


async def test_unknown_event_types_are_refused(harness, bob):  # type: ignore[no-untyped-def]
    response = await harness.post(
        "/api/v1/notifications/webhooks",
        json={"url": "http://127.0.0.1/", "event_types": ["task_exploded"]},
        user=bob,
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "event_types"


async def test_webhooks_are_listed_without_secret_and_deleted_by_their_owner_only(harness, alice, bob):  # type: ignore[no-untyped-def]
    webhook = await register(harness, bob, "http://127.0.0.1:9/hook")

    listed = (await harness.get("/api/v1/notifications/webhooks", user=bob)).json()["items"]
    refused = await harness.delete(f"/api/v1/notifications/webhooks/{webhook['id']}", user=alice)
    deleted = await harness.delete(f"/api/v1/notifications/webhooks/{webhook['id']}", user=bob)

    assert [(w["id"], "secret" in w) for w in listed] == [(webhook["id"], False)]
    assert webhook["secret"].startswith("whsec_")
    assert (refused.status_code, deleted.status_code) == (404, 204)
    assert (await harness.get("/api/v1/notifications/webhooks", user=bob)).json()["items"] == []


async def test_credentials_in_the_url_are_sent_as_basic_auth(harness, bob):  # type: ignore[no-untyped-def]
    receiver = Receiver()
    async with serving(receiver) as url:
        with_credentials = str(httpx.URL(url).copy_with(username="hook", password="p@ss word"))
        await register(harness, bob, with_credentials, ["member_added"])

        await harness.publish(MemberAdded(project_id=new_id(), user_id=bob.id, role="member"))
        [request] = await receiver.wait_for(1)

    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"hook:p@ss word").decode()
