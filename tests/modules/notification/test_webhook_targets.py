"""Webhook targets: only public addresses, connected to as checked (no DNS rebinding),
TLS verified against the host name, and a delivery log that is no port scanner."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
import trustme

from cloudtaskhub.clock import new_id
from cloudtaskhub.testing import ModuleHarness
from modules.notification import module as notification
from modules.notification.targets import is_public
from modules.project.contracts import MemberAdded
from tests.modules.notification.conftest import ENVIRON, attempts_of, delivery_status, register
from tests.modules.notification.servers import FakeDNS, Receiver, serving, tripwire


@pytest.fixture
def dns(monkeypatch):  # type: ignore[no-untyped-def]
    return FakeDNS(monkeypatch)


@pytest.mark.parametrize(
    "target",
    [
        "http://100.100.100.200/latest/meta-data/",  # a cloud metadata address (shared space)
        "http://100.64.0.1/hook",  # carrier-grade NAT, 100.64.0.0/10
        "http://[fec0::1]/hook",  # IPv6 site-local
        "http://[2002:a00:1::1]/hook",  # 6to4 carrying 10.0.0.1
        "http://[::ffff:10.0.0.1]/hook",  # IPv4-mapped
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook",  # Teredo, client 10.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 carrying 169.254.169.254
        "http://224.0.0.251/hook",  # multicast
        "http://192.0.0.170/hook",  # IETF protocol assignments
    ],
)
async def test_non_public_targets_are_refused_naming_the_field(harness, bob, target):  # type: ignore[no-untyped-def]
    response = await harness.post(
        "/api/v1/notifications/webhooks", json={"url": target, "event_types": ["task_assigned"]}, user=bob
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "url"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("2002:5db8:d70e::1", True),  # 6to4 carrying 93.184.215.14
        ("64:ff9b::5db8:d70e", True),  # NAT64 carrying 93.184.215.14 (DNS64 networks)
        ("100.100.100.200", False),
        ("fec0::1", False),
        ("2002:7f00:1::", False),  # 6to4 carrying 127.0.0.1
        ("::ffff:127.0.0.1", False),
        ("ff0e::1", False),
        ("3fff::1", False),
        ("5f00::1", False),
    ],
)
def test_public_means_global_unicast_also_inside_ipv6_wrappers(address, public):  # type: ignore[no-untyped-def]
    assert is_public(ipaddress.ip_address(address)) is public


async def test_a_rebinding_dns_answer_never_gets_a_connection(database_url, tmp_path, dns):  # type: ignore[no-untyped-def]
    # 127.0.0.2, allowed by configuration, stands in for the public internet here; the
    # receiver the attacker wants to reach listens on 127.0.0.1, same port, not allowed.
    environ = {
        **ENVIRON,
        "CTH_NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.2/32",
        "CTH_NOTIFICATION_WEBHOOK_BACKOFF_BASE_SECONDS": "0.05",
    }
    public = Receiver(script=[500])
    async with (
        tripwire("127.0.0.1") as (internal, port),
        serving(public, host="127.0.0.2", port=port),
        ModuleHarness(
            [notification], database_url=database_url, data_dir=str(tmp_path), environ=environ
        ) as h,
    ):
        bob = h.user("bob@example.com")
        # Lookups: registration, first attempt -> public; every later one -> loopback.
        dns.answer("hooks.rebind.test", "127.0.0.2", "127.0.0.2", "127.0.0.1")
        webhook = await register(h, bob, f"http://hooks.rebind.test:{port}/hook", ["member_added"])

        await h.publish(MemberAdded(project_id=new_id(), user_id=bob.id, role="member"))
        assert await delivery_status(h, until="failed") == "failed"
        attempts = await attempts_of(h, bob, webhook["id"], 2)

    assert internal.connections == 0
    assert [r.headers["host"] for r in public.requests] == [f"hooks.rebind.test:{port}"]
    assert [(a["attempt"], a["status_code"], a["error"]) for a in attempts] == [
        (1, 500, "HTTP 500"),
        (2, None, "refused: resolves to an address that is not public (127.0.0.1)"),
    ]
    assert dns.lookups["hooks.rebind.test"] == 3  # one per registration and per attempt


@pytest.fixture
def ca():  # type: ignore[no-untyped-def]
    return trustme.CA()


async def _deliver_over_tls(database_url, tmp_path, dns, ca, certificate_for):  # type: ignore[no-untyped-def]
    """Deliver one event to https://hooks.example.test (127.0.0.1), its certificate for `certificate_for`."""
    ca_file, chain = tmp_path / "ca.pem", tmp_path / "receiver.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert(certificate_for).private_key_and_cert_chain_pem.write_to_path(str(chain))
    environ = {**ENVIRON, "CTH_NOTIFICATION_WEBHOOK_CA_FILE": str(ca_file)}
    environ["CTH_NOTIFICATION_WEBHOOK_MAX_ATTEMPTS"] = "1"
    dns.answer("hooks.example.test", "127.0.0.1")
    receiver = Receiver()
    async with (
        serving(receiver, ssl_certfile=str(chain)) as url,
        ModuleHarness(
            [notification], database_url=database_url, data_dir=str(tmp_path), environ=environ
        ) as h,
    ):
        bob = h.user("bob@example.com")
        port = url.rsplit(":", 1)[1]
        webhook = await register(h, bob, f"https://hooks.example.test:{port}/hook", ["member_added"])

        await h.publish(MemberAdded(project_id=new_id(), user_id=bob.id, role="member"))
        [attempt] = await attempts_of(h, bob, webhook["id"], 1)
    return receiver, attempt, port


async def test_https_delivery_verifies_the_certificate_of_the_host_name(database_url, tmp_path, dns, ca):  # type: ignore[no-untyped-def]
    receiver, attempt, port = await _deliver_over_tls(database_url, tmp_path, dns, ca, "hooks.example.test")

    assert (attempt["status_code"], attempt["error"]) == (200, None)
    assert [r.headers["host"] for r in receiver.requests] == [f"hooks.example.test:{port}"]


async def test_https_delivery_to_a_certificate_for_another_name_fails(database_url, tmp_path, dns, ca):  # type: ignore[no-untyped-def]
    receiver, attempt, _ = await _deliver_over_tls(database_url, tmp_path, dns, ca, "other.example.test")

    assert (attempt["status_code"], attempt["error"]) == (None, "delivery failed")
    assert receiver.requests == []


async def test_refused_and_timed_out_connections_read_the_same(database_url, tmp_path):  # type: ignore[no-untyped-def]
    environ = {
        **ENVIRON,
        "CTH_NOTIFICATION_WEBHOOK_MAX_ATTEMPTS": "1",
        "CTH_NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS": "0.5",
    }
    async with tripwire() as (_, closed_port):
        pass  # closed again: nothing listens on that port now
    async with (
        tripwire() as (silent, silent_port),
        ModuleHarness(
            [notification], database_url=database_url, data_dir=str(tmp_path), environ=environ
        ) as h,
    ):
        bob = h.user("bob@example.com")
        hanging = await register(h, bob, f"http://127.0.0.1:{silent_port}/", ["member_added"])
        refusing = await register(h, bob, f"http://127.0.0.1:{closed_port}/", ["member_added"])

        await h.publish(MemberAdded(project_id=new_id(), user_id=bob.id, role="member"))
        [timed_out] = await attempts_of(h, bob, hanging["id"], 1)
        [refused] = await attempts_of(h, bob, refusing["id"], 1)

    assert silent.connections == 1
    assert (timed_out["status_code"], timed_out["error"]) == (None, "delivery failed")
    assert (refused["status_code"], refused["error"]) == (None, "delivery failed")


async def test_redirects_are_not_followed(harness, bob):  # type: ignore[no-untyped-def]
    elsewhere = Receiver()
    async with serving(elsewhere) as elsewhere_url:
        redirecting = Receiver(script=[302] * 10, redirect_to=elsewhere_url)
        async with serving(redirecting) as url:
            webhook = await register(harness, bob, url, ["member_added"])

            await harness.publish(MemberAdded(project_id=new_id(), user_id=bob.id, role="member"))
            [first, *_] = await attempts_of(harness, bob, webhook["id"], 1)

    assert (first["status_code"], first["error"]) == (302, "HTTP 302")
    assert elsewhere.requests == []


async def test_webhooks_per_user_are_capped_also_under_concurrent_registration(database_url, tmp_path):  # type: ignore[no-untyped-def]
    environ = {**ENVIRON, "CTH_NOTIFICATION_WEBHOOK_MAX_PER_USER": "2"}
    async with ModuleHarness(
        [notification], database_url=database_url, data_dir=str(tmp_path), environ=environ
    ) as h:
        bob = h.user("bob@example.com")
        body = {"url": "http://127.0.0.1:9/hook", "event_types": ["task_done"]}

        responses = await asyncio.gather(
            *(h.post("/api/v1/notifications/webhooks", json=body, user=bob) for _ in range(5))
        )
        listed = (await h.get("/api/v1/notifications/webhooks", user=bob)).json()["items"]

    assert sorted(r.status_code for r in responses) == [201, 201, 403, 403, 403]
    refusal = next(r for r in responses if r.status_code == 403)
    assert refusal.headers["content-type"].startswith("application/problem+json")
    assert "at most 2 webhooks" in refusal.json()["detail"]
    assert len(listed) == 2
