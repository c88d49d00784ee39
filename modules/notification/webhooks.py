"""Webhooks: registration, and delivery of matching events as signed POSTs.

A delivery row is written by the notification handler, in the consumer's
transaction; sending happens later in the deliverer (a background task), one
asyncio task per delivery, so a slow or dead receiver holds up only its own
delivery — never other deliveries, never the event consumer.

Signature: `X-CloudTaskHub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` of
`"<t>.<body>"`, keyed with the webhook's secret (its UTF-8 bytes).

Each attempt resolves the host once, checks every address (`targets`) and
connects only to those. Redirects are not followed: a 3xx is a failed attempt.
The delivery log is for the webhook's owner, who may be probing someone else's
network: it shows a status code only when a receiver answered, and every
failure to get an answer (refused, reset, timed out, bad TLS) reads the same,
"delivery failed", so the log cannot tell closed ports from filtered ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from base64 import b64encode
from datetime import timedelta
from uuid import UUID

import httpcore
from sqlalchemy import delete, func, or_, select, update

from cloudtaskhub.clock import Clock, new_id
from cloudtaskhub.db import UnitOfWork, serialize_per
from cloudtaskhub.errors import NotFound, QuotaExceeded, RuleViolated
from cloudtaskhub.runtime import ModuleRuntime
from modules.notification.live import Signals, provide_signals
from modules.notification.models import AttemptModel, DeliveryModel, WebhookModel
from modules.notification.service import KINDS
from modules.notification.settings import NotificationSettings
from modules.notification.targets import (
    HostDoesNotResolve,
    PinnedBackend,
    Target,
    TargetRefused,
    resolve_target,
    tls_context,
)

__all__ = [
    "WebhookDeliverer",
    "WebhookNotFound",
    "WebhookService",
    "deliver_webhooks",
    "provide_webhook_service",
    "sign",
]

log = logging.getLogger("cloudtaskhub.notification.webhooks")

SIGNATURE_HEADER = "X-CloudTaskHub-Signature"
USER_AGENT = "CloudTaskHub-Webhooks/1"
#: The one message for every attempt that got no HTTP answer (see the module docstring).
DELIVERY_FAILED = "delivery failed"
#: What an attempt can fail with short of an HTTP answer: DNS, TCP, TLS, HTTP framing.
_NO_ANSWER = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    OSError,  # ssl.SSLError included
    TimeoutError,
)


class WebhookNotFound(NotFound):
    template = "webhook not found"


class UnknownEventType(RuleViolated):
    """A webhook asked for an event type that is not a notification kind."""


class WebhookLimitReached(QuotaExceeded):
    template = "at most {limit} webhooks per user; remove one first"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookService:
    def __init__(self, uow: UnitOfWork, clock: Clock, settings: NotificationSettings) -> None:
        self._uow = uow
        self._clock = clock
        self._settings = settings

    async def register(self, user_id: UUID, url: str, event_types: list[str]) -> WebhookModel:
        """Register a webhook for notification kinds; its secret is readable only here.

        Raises UnknownEventType, TargetRefused (a host that does not resolve to public
        addresses only) and WebhookLimitReached (`webhook_max_per_user`).
        """
        unknown = sorted(set(event_types) - set(KINDS))
        if unknown:
            raise UnknownEventType(
                field="event_types", message=f"unknown {', '.join(unknown)}; choose from {', '.join(KINDS)}"
            )
        await resolve_target(url, self._settings)
        webhook = WebhookModel(
            id=new_id(),
            user_id=user_id,
            url=url,
            event_types=list(dict.fromkeys(event_types)),
            secret="whsec_" + secrets.token_urlsafe(32),
            created_at=self._clock.now(),
        )
        async with self._uow.transaction() as tx:
            # Concurrent registrations by one user count one after the other.
            await serialize_per(tx.session, f"notification.webhooks:{user_id}")
            registered = await tx.session.scalar(
                select(func.count()).select_from(WebhookModel).where(WebhookModel.user_id == user_id)
            )
            if int(registered or 0) >= self._settings.webhook_max_per_user:
                raise WebhookLimitReached(limit=self._settings.webhook_max_per_user)
            tx.session.add(webhook)
        return webhook

    async def webhooks(self, user_id: UUID) -> list[WebhookModel]:
        async with self._uow.read() as session:
            rows = await session.scalars(
                select(WebhookModel).where(WebhookModel.user_id == user_id).order_by(WebhookModel.id)
            )
            return list(rows.all())

    async def remove(self, user_id: UUID, webhook_id: UUID) -> None:
        """Delete the webhook with its pending deliveries and attempts. Raises WebhookNotFound."""
        async with self._uow.transaction() as tx:
            webhook = await tx.session.get(WebhookModel, webhook_id)
            if webhook is None or webhook.user_id != user_id:
                raise WebhookNotFound()
            await tx.session.execute(delete(AttemptModel).where(AttemptModel.webhook_id == webhook_id))
            await tx.session.execute(delete(DeliveryModel).where(DeliveryModel.webhook_id == webhook_id))
            await tx.session.delete(webhook)

    async def attempts(
        self, user_id: UUID, webhook_id: UUID, limit: int, before: UUID | None
    ) -> tuple[list[AttemptModel], UUID | None]:
        """The webhook's delivery attempts, newest first. Raises WebhookNotFound."""
        async with self._uow.read() as session:
            webhook = await session.get(WebhookModel, webhook_id)
            if webhook is None or webhook.user_id != user_id:
                raise WebhookNotFound()
            query = select(AttemptModel).where(AttemptModel.webhook_id == webhook_id)
            if before is not None:
                query = query.where(AttemptModel.id < before)
            rows = list(
                (await session.scalars(query.order_by(AttemptModel.id.desc()).limit(limit + 1))).all()
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, rows[-1].id if more else None


class WebhookDeliverer:
    """Claims due deliveries and sends them, each in its own task, with retries."""

    def __init__(
        self, uow: UnitOfWork, clock: Clock, settings: NotificationSettings, signals: Signals
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._settings = settings
        self._signals = signals
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.webhook_concurrency)
        self._tls = tls_context(settings)
        # A lease outlives the longest attempt, so a crashed worker's delivery is retried elsewhere.
        self._lease = timedelta(seconds=settings.webhook_timeout_seconds * 3 + 30)

    async def run(self) -> None:
        try:
            while True:
                self._signals.deliveries.clear()
                for delivery_id in await self._claim_due():
                    task = asyncio.create_task(self._deliver(delivery_id))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._signals.deliveries.wait(), self._settings.webhook_poll_seconds
                    )
        finally:
            for task in self._running:
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _claim_due(self) -> list[UUID]:
        now = self._clock.now()
        free = self._settings.webhook_concurrency - len(self._running)
        if free <= 0:
            return []
        available = or_(DeliveryModel.leased_until.is_(None), DeliveryModel.leased_until < now)
        async with self._uow.read() as session:
            candidates = list(
                (
                    await session.scalars(
                        select(DeliveryModel.id)
                        .where(
                            DeliveryModel.status == "pending", DeliveryModel.next_attempt_at <= now, available
                        )
                        .order_by(DeliveryModel.next_attempt_at)
                        .limit(free)
                    )
                ).all()
            )
        claimed = []
        for delivery_id in candidates:
            async with self._uow.transaction() as tx:
                result = await tx.session.execute(
                    update(DeliveryModel)
                    .where(DeliveryModel.id == delivery_id, DeliveryModel.status == "pending", available)
                    .values(leased_until=now + self._lease)
                )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(delivery_id)
        return claimed

    async def _deliver(self, delivery_id: UUID) -> None:
        """Attempt until delivered, out of attempts, or the webhook is gone."""
        while True:
            async with self._uow.read() as session:
                delivery = await session.get(DeliveryModel, delivery_id)
                webhook = await session.get(WebhookModel, delivery.webhook_id) if delivery else None
            if delivery is None or webhook is None or delivery.status != "pending":
                return
            async with self._slots:
                status_code, error = await self._attempt(webhook, delivery)
            attempt = delivery.attempts + 1
            succeeded = status_code is not None and 200 <= status_code < 300
            permanent = error is not None and error.startswith("refused")
            exhausted = attempt >= self._settings.webhook_max_attempts
            delay = self._settings.webhook_backoff_base_seconds * 2 ** (attempt - 1)
            now = self._clock.now()
            async with self._uow.transaction() as tx:
                if await tx.session.get(DeliveryModel, delivery_id) is None:
                    return  # the webhook was deleted meanwhile
                tx.session.add(
                    AttemptModel(
                        id=new_id(),
                        webhook_id=webhook.id,
                        delivery_id=delivery_id,
                        event_id=delivery.event_id,
                        attempt=attempt,
                        status_code=status_code,
                        error=error,
                        delivered_at=now,
                    )
                )
                done = succeeded or permanent or exhausted
                await tx.session.execute(
                    update(DeliveryModel)
                    .where(DeliveryModel.id == delivery_id)
                    .values(
                        attempts=attempt,
                        status="delivered" if succeeded else ("failed" if done else "pending"),
                        next_attempt_at=now + timedelta(seconds=delay),
                        leased_until=None if done else now + timedelta(seconds=delay) + self._lease,
                    )
                )
            if done:
                return
            await asyncio.sleep(delay)

    async def _attempt(self, webhook: WebhookModel, delivery: DeliveryModel) -> tuple[int | None, str | None]:
        """One POST: (status code, error); the error starts with "refused" when it must not be retried."""
        try:
            # The whole attempt, DNS included, fits in the timeout, so it ends well within its lease.
            async with asyncio.timeout(self._settings.webhook_timeout_seconds):
                target = await resolve_target(webhook.url, self._settings)
                return await self._post(target, webhook, delivery)
        except HostDoesNotResolve:
            return None, DELIVERY_FAILED  # DNS may answer again later: retried
        except TargetRefused as refused:
            return None, f"refused: {refused.context['message']}"
        except _NO_ANSWER as error:
            log.info("webhook %s attempt got no answer: %s: %s", webhook.id, type(error).__name__, error)
            return None, DELIVERY_FAILED

    async def _post(
        self, target: Target, webhook: WebhookModel, delivery: DeliveryModel
    ) -> tuple[int | None, str | None]:
        body = delivery.payload.encode()
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(webhook.secret, int(self._clock.now().timestamp()), body),
            "X-CloudTaskHub-Event": delivery.event_type,
            "X-CloudTaskHub-Delivery": str(delivery.id),
        }
        if target.url.userinfo:  # credentials in the URL (userinfo): basic auth, as a browser sends them
            credentials = f"{target.url.username}:{target.url.password}".encode()
            headers["Authorization"] = "Basic " + b64encode(credentials).decode()
        url = httpcore.URL(
            scheme=target.url.raw_scheme,
            host=target.url.raw_host,
            port=target.url.port,
            target=target.url.raw_path,
        )
        # One connection per attempt (nothing kept alive): the next attempt resolves afresh.
        async with (
            httpcore.AsyncConnectionPool(
                ssl_context=self._tls, max_keepalive_connections=0, network_backend=PinnedBackend(target)
            ) as pool,
            pool.stream("POST", url, headers=headers, content=body) as response,
        ):
            # The body is never read: a receiver cannot make us download anything.
            status: int = response.status
        return status, None if 200 <= status < 300 else f"HTTP {status}"


def provide_webhook_service(module: ModuleRuntime) -> WebhookService:
    return WebhookService(module.uow, module.clock, module.config)


async def deliver_webhooks(module: ModuleRuntime) -> None:
    """Background task: the webhook deliverer. Ends open SSE streams on shutdown too."""
    signals = provide_signals(module)
    try:
        await WebhookDeliverer(module.uow, module.clock, module.config, signals).run()
    finally:
        signals.shut_down()
