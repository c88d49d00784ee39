"""HTTP API of the notification module: /api/v1/notifications."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from cloudtaskhub.http.pagination import Page, PageRequest, encode_cursor
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.security import Principal
from modules.notification.live import Stream
from modules.notification.models import AttemptModel, NotificationModel, WebhookModel
from modules.notification.service import NotificationService, StreamEnd, provide_notification_service
from modules.notification.webhooks import WebhookService, provide_webhook_service


class Notification(msgspec.Struct):
    id: UUID
    kind: str
    title: str
    body: str
    subject_id: UUID
    created_at: datetime
    read_at: datetime | None


class WebhookCreate(msgspec.Struct):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    event_types: Annotated[list[str], msgspec.Meta(min_length=1, max_length=10)]


class Webhook(msgspec.Struct):
    id: UUID
    url: str
    event_types: list[str]
    created_at: datetime


class WebhookCreated(Webhook):
    #: Shown only in this response: it signs every delivery.
    secret: str


class Attempt(msgspec.Struct):
    delivery_id: UUID
    event_id: UUID
    status_code: int | None
    attempt: int
    delivered_at: datetime
    error: str | None


def provide_notifications(runtime: Runtime) -> NotificationService:
    return provide_notification_service(runtime.module("notification"))


def provide_webhooks(runtime: Runtime) -> WebhookService:
    return provide_webhook_service(runtime.module("notification"))


def _notification(model: NotificationModel) -> Notification:
    return Notification(
        model.id, model.kind, model.title, model.body, model.subject_id, model.created_at, model.read_at
    )


def _webhook(model: WebhookModel) -> Webhook:
    return Webhook(model.id, model.url, list(model.event_types), model.created_at)


def _attempt(model: AttemptModel) -> Attempt:
    return Attempt(
        model.delivery_id, model.event_id, model.status_code, model.attempt, model.delivered_at, model.error
    )


def _after(page: PageRequest) -> UUID | None:
    position = page.position(UUID)
    return position[0] if position else None


def _cursor(last: UUID | None) -> str | None:
    return encode_cursor([str(last)]) if last else None


async def _messages(
    service: NotificationService, stream: Stream, expires_at: float | None
) -> AsyncIterator[ServerSentEventMessage]:
    async for item in service.follow(stream, expires_at):
        if item is None:
            yield ServerSentEventMessage(comment="heartbeat")
        elif isinstance(item, StreamEnd):
            reason = msgspec.json.encode({"reason": item.reason}).decode()
            yield ServerSentEventMessage(data=reason, event="end")
        else:
            data = msgspec.json.encode(_notification(item)).decode()
            yield ServerSentEventMessage(data=data, event="notification", id=str(item.id))


class NotificationController(Controller):
    path = "/api/v1/notifications"
    tags = ["notification"]
    dependencies = {
        "service": Provide(provide_notifications, sync_to_thread=False),
        "webhooks": Provide(provide_webhooks, sync_to_thread=False),
    }
    security = [{"BearerToken": []}]

    @get("/", summary="The caller's notifications, newest first")
    async def notifications(
        self,
        principal: Principal,
        service: NotificationService,
        page: PageRequest,
        unread: Annotated[bool, Parameter(description="Only unread ones")] = False,
    ) -> Page[Notification]:
        rows, last = await service.notifications(
            principal.user_id, unread_only=unread, limit=page.limit, before=_after(page)
        )
        return Page(items=[_notification(row) for row in rows], next_cursor=_cursor(last))

    @post("/{notification_id:uuid}/read", status_code=HTTP_204_NO_CONTENT, summary="Mark one read")
    async def mark_read(
        self, notification_id: UUID, principal: Principal, service: NotificationService
    ) -> None:
        await service.mark_read(principal.user_id, notification_id)

    @post("/read-all", status_code=HTTP_204_NO_CONTENT, summary="Mark all read")
    async def mark_all_read(self, principal: Principal, service: NotificationService) -> None:
        await service.mark_all_read(principal.user_id)

    @get(
        "/stream",
        summary="Server-Sent Events: each new notification, live",
        description=(
            "Ends when the access token expires or its login session is logged out, with a last "
            '`end` event whose data is `{"reason": "token_expired" | "session_ended"}`: refresh '
            "the token and reconnect. At most CTH_NOTIFICATION_SSE_MAX_STREAMS_PER_USER open "
            "streams per user (per process); one more answers 429."
        ),
    )
    async def stream(self, principal: Principal, service: NotificationService) -> ServerSentEvent:
        stream = await service.open_stream(principal.user_id, principal.session_id, principal.expires_at)
        messages = _messages(service, stream, principal.expires_at)
        # A response whose body never starts (the client left first) never runs the
        # generator's cleanup: free the slot when the generator is dropped, too.
        weakref.finalize(messages, service.close_stream, stream)
        return ServerSentEvent(messages, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @post("/webhooks", status_code=HTTP_201_CREATED, summary="Register a webhook (secret shown once)")
    async def register_webhook(
        self, data: WebhookCreate, principal: Principal, webhooks: WebhookService
    ) -> WebhookCreated:
        model = await webhooks.register(principal.user_id, data.url, data.event_types)
        return WebhookCreated(model.id, model.url, list(model.event_types), model.created_at, model.secret)

    @get("/webhooks", summary="The caller's webhooks")
    async def list_webhooks(self, principal: Principal, webhooks: WebhookService) -> Page[Webhook]:
        return Page(
            items=[_webhook(row) for row in await webhooks.webhooks(principal.user_id)], next_cursor=None
        )

    @delete("/webhooks/{webhook_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Remove a webhook")
    async def remove_webhook(self, webhook_id: UUID, principal: Principal, webhooks: WebhookService) -> None:
        await webhooks.remove(principal.user_id, webhook_id)

    @get("/webhooks/{webhook_id:uuid}/deliveries", summary="Delivery attempts, newest first")
    async def deliveries(
        self, webhook_id: UUID, principal: Principal, webhooks: WebhookService, page: PageRequest
    ) -> Page[Attempt]:
        rows, last = await webhooks.attempts(principal.user_id, webhook_id, page.limit, _after(page))
        return Page(items=[_attempt(row) for row in rows], next_cursor=_cursor(last))
