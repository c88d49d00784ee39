"""Notification use cases: create notifications from facts, list them, mark them
read, and follow them live."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudtaskhub.clock import Clock, new_id
from cloudtaskhub.db import Transaction, UnitOfWork
from cloudtaskhub.db.statements import insert_ignoring
from cloudtaskhub.errors import NotAuthenticated, NotFound
from cloudtaskhub.runtime import ModuleRuntime
from cloudtaskhub.telemetry import current_traceparent, mark_hop
from modules.notification.contracts import NotificationCreated, NotificationRead
from modules.notification.live import Signals, Stream, provide_signals
from modules.notification.models import (
    DeliveryModel,
    EndedSessionModel,
    NotificationModel,
    ProjectModel,
    TaskModel,
    WebhookModel,
)
from modules.notification.settings import NotificationSettings

__all__ = [
    "KINDS",
    "Cause",
    "NotificationNotFound",
    "NotificationService",
    "StreamEnd",
    "after_commit",
    "provide_notification_service",
]

#: Notification kinds; webhooks subscribe to these.
KINDS = ("task_assigned", "task_done", "member_added", "invoice_issued", "plan_changed")

#: Heartbeat marker yielded by `follow` between notifications.
Heartbeat = None


@dataclass(frozen=True)
class StreamEnd:
    """The last thing `follow` yields: why the stream ends (`token_expired`, `session_ended`)."""

    reason: str


class NotificationNotFound(NotFound):
    template = "notification not found"


@dataclass(frozen=True)
class Cause:
    """The event a notification comes from: what matching webhooks receive."""

    event_id: UUID
    event_type: str
    cloudevent: str


@dataclass(frozen=True)
class _Draft:
    user_id: UUID
    kind: str
    title: str
    body: str
    subject_id: UUID


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once the transaction `session` is in commits (never on rollback).

    Event handlers run inside the dispatcher's transaction, so the end of a service's
    `transaction()` block is not the commit; waking a stream earlier would make it
    look for a row it cannot see yet.
    """
    event.listen(session.sync_session, "after_commit", lambda _session: callback(), once=True)


class NotificationService:
    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock,
        settings: NotificationSettings,
        signals: Signals,
        *,
        access_token_ttl_seconds: int = 900,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._settings = settings
        self._signals = signals
        # An ended session matters while a token of it can be valid: its lifetime, plus
        # the verifier's clock-skew leeway and a margin.
        self._session_memory = timedelta(seconds=access_token_ttl_seconds + 60)

    # -- facts from other modules -------------------------------------------

    async def remember_project(self, project_id: UUID, owner_id: UUID, name: str) -> None:
        async with self._uow.transaction() as tx:
            if await tx.session.get(ProjectModel, project_id) is None:
                tx.session.add(ProjectModel(project_id=project_id, owner_id=owner_id, name=name))

    # Task events are the hot path: Core statements, no ORM object loaded.

    async def remember_task(self, task_id: UUID, project_id: UUID, creator_id: UUID, title: str) -> None:
        row = {"task_id": task_id, "project_id": project_id, "creator_id": creator_id, "title": title}
        async with self._uow.transaction() as tx:
            await tx.session.execute(insert_ignoring(tx.session, TaskModel), row)

    async def notify_task_assigned(
        self, task_id: UUID, assignee_id: UUID, assigned_by: UUID, cause: Cause
    ) -> None:
        """Tell the assignee, unless they assigned themselves."""
        if assignee_id == assigned_by:
            return
        async with self._uow.transaction() as tx:
            title = await tx.session.scalar(select(TaskModel.title).where(TaskModel.task_id == task_id))
            await self._create(
                tx,
                [_Draft(assignee_id, "task_assigned", "You were assigned a task", title or "", task_id)],
                cause,
            )

    async def notify_task_done(
        self,
        task_id: UUID,
        project_id: UUID,
        changed_by: UUID,
        creator_id: UUID | None,
        owner_id: UUID | None,
        cause: Cause,
    ) -> None:
        """Tell the project owner and the task creator (once each), never the person who did it."""
        async with self._uow.transaction() as tx:
            task = (
                await tx.session.execute(
                    select(TaskModel.title, TaskModel.creator_id).where(TaskModel.task_id == task_id)
                )
            ).one_or_none()
            if owner_id is None:
                owner_id = await tx.session.scalar(
                    select(ProjectModel.owner_id).where(ProjectModel.project_id == project_id)
                )
            creator_id = creator_id or (task.creator_id if task else None)
            recipients = dict.fromkeys(u for u in (owner_id, creator_id) if u is not None and u != changed_by)
            title = task.title if task else ""
            drafts = [
                _Draft(user, "task_done", "A task was completed", title, task_id) for user in recipients
            ]
            await self._create(tx, drafts, cause)

    async def notify_member_added(self, project_id: UUID, user_id: UUID, role: str, cause: Cause) -> None:
        async with self._uow.transaction() as tx:
            project = await tx.session.get(ProjectModel, project_id)
            if project is not None and project.owner_id == user_id:
                return
            body = f"{project.name} (as {role})" if project else f"as {role}"
            await self._create(
                tx, [_Draft(user_id, "member_added", "You were added to a project", body, project_id)], cause
            )

    async def notify_invoice_issued(
        self,
        invoice_id: UUID,
        user_id: UUID,
        number: str | None,
        total_cents: int,
        currency: str,
        cause: Cause,
    ) -> None:
        title = f"Invoice {number} issued" if number else "Invoice issued"
        draft = _Draft(user_id, "invoice_issued", title, f"Total {_money(total_cents, currency)}", invoice_id)
        async with self._uow.transaction() as tx:
            await self._create(tx, [draft], cause)

    async def notify_plan_changed(
        self, user_id: UUID, subject_id: UUID, previous_plan: str | None, plan: str, cause: Cause
    ) -> None:
        """Tell the user their plan changed; the first (free) plan and renewals are no change."""
        if previous_plan is None or previous_plan == plan:
            return
        draft = _Draft(
            user_id, "plan_changed", f"Your plan is now {plan}", f"Changed from {previous_plan}.", subject_id
        )
        async with self._uow.transaction() as tx:
            await self._create(tx, [draft], cause)

    async def _create(self, tx: Transaction, drafts: Sequence[_Draft], cause: Cause) -> None:
        if not drafts:
            return
        now = self._clock.now()
        traceparent = current_traceparent()
        rows = [
            {
                "id": new_id(),
                "user_id": draft.user_id,
                "kind": draft.kind,
                "title": draft.title[:200],
                "body": draft.body,
                "subject_id": draft.subject_id,
                "created_at": now,
                "read_at": None,
                "traceparent": traceparent,
            }
            for draft in drafts
        ]
        await tx.session.execute(insert(NotificationModel).values(rows))
        users = {draft.user_id for draft in drafts}
        webhooks = (
            await tx.session.execute(
                select(WebhookModel.id, WebhookModel.user_id, WebhookModel.event_types).where(
                    WebhookModel.user_id.in_(users)
                )
            )
        ).all()
        deliveries = []
        for row, draft in zip(rows, drafts, strict=True):
            await tx.record(
                NotificationCreated(notification_id=row["id"], user_id=draft.user_id, kind=draft.kind)
            )
            for webhook in webhooks:
                if webhook.user_id == draft.user_id and draft.kind in webhook.event_types:
                    deliveries.append(
                        {
                            "id": new_id(),
                            "webhook_id": webhook.id,
                            "event_id": cause.event_id,
                            "event_type": cause.event_type,
                            "payload": cause.cloudevent,
                            "status": "pending",
                            "attempts": 0,
                            "next_attempt_at": now,
                            "created_at": now,
                        }
                    )
            after_commit(tx.session, lambda user=draft.user_id: self._signals.notify(user))
        if deliveries:
            await tx.session.execute(insert(DeliveryModel).values(deliveries))
            after_commit(tx.session, self._signals.deliveries.set)

    # -- the caller's notifications ----------------------------------------

    async def notifications(
        self, user_id: UUID, *, unread_only: bool, limit: int, before: UUID | None
    ) -> tuple[list[NotificationModel], UUID | None]:
        """The user's notifications, newest first (keyset on the time-ordered id)."""
        query = select(NotificationModel).where(NotificationModel.user_id == user_id)
        if unread_only:
            query = query.where(NotificationModel.read_at.is_(None))
        if before is not None:
            query = query.where(NotificationModel.id < before)
        query = query.order_by(NotificationModel.id.desc()).limit(limit + 1)
        async with self._uow.read() as session:
            rows = list((await session.scalars(query)).all())
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, rows[-1].id if more else None

    async def mark_read(self, user_id: UUID, notification_id: UUID) -> None:
        """Mark one of the user's notifications read (again: no-op). Raises NotificationNotFound."""
        async with self._uow.transaction() as tx:
            notification = await tx.session.get(NotificationModel, notification_id)
            if notification is None or notification.user_id != user_id:
                raise NotificationNotFound()
            if notification.read_at is None:
                notification.read_at = self._clock.now()
                await tx.record(NotificationRead(notification_id=notification.id, user_id=user_id))

    async def mark_all_read(self, user_id: UUID) -> int:
        """Mark every unread notification read; one `NotificationRead` each. Returns how many."""
        async with self._uow.transaction() as tx:
            unread = list(
                (
                    await tx.session.scalars(
                        select(NotificationModel.id)
                        .where(NotificationModel.user_id == user_id, NotificationModel.read_at.is_(None))
                        .with_for_update()
                    )
                ).all()
            )
            if unread:
                await tx.session.execute(
                    update(NotificationModel)
                    .where(NotificationModel.id.in_(unread), NotificationModel.read_at.is_(None))
                    .values(read_at=self._clock.now())
                )
            for notification_id in unread:
                await tx.record(NotificationRead(notification_id=notification_id, user_id=user_id))
        return len(unread)

    # -- live streams ---------------------------------------------------------

    async def open_stream(self, user_id: UUID, session_id: UUID | None, expires_at: float | None) -> Stream:
        """Admit a new stream for a caller whose token is of `session_id` and valid until
        `expires_at` (Unix seconds). Raises NotAuthenticated when that token has expired or
        its session has ended (a logout), TooManyStreams past the per-user cap. The caller
        must `close_stream` it (following it to the end does)."""
        if expires_at is not None and time.time() >= expires_at:
            raise NotAuthenticated(reason="token expired")
        if session_id is not None and await self._session_ended(session_id):
            raise NotAuthenticated(reason="session ended")
        return self._signals.open(user_id, session_id, self._settings.sse_max_streams_per_user)

    def close_stream(self, stream: Stream) -> None:
        self._signals.close(stream)

    async def follow(
        self, stream: Stream, expires_at: float | None
    ) -> AsyncIterator[NotificationModel | StreamEnd | None]:
        """The user's new notifications as they are created; `None` is a heartbeat.

        Yields a heartbeat first (the stream is then listening), then each
        notification created after that, and a heartbeat after every
        `sse_heartbeat_seconds` of silence. Ends with a `StreamEnd` when the token
        expires (`expires_at`) or its login session ends — at once when this process
        handled the logout, within `sse_poll_seconds` when another replica did — and
        without one when the process shuts down. Frees the stream's slot when it ends.
        """
        loop = asyncio.get_running_loop()
        poll = self._settings.sse_poll_seconds
        # Ids are UUIDv7: start a little in the past so a notification whose id was
        # drawn before we connected but committed after is still found; those already
        # visible now are marked seen.
        watermark = _uuid7_floor(time.time() - 10)  # ids carry wall-clock time, not the module clock
        try:
            seen = {n.id for n in await self._created_after(stream.user_id, watermark)}
            yield Heartbeat
            next_beat = loop.time() + self._settings.sse_heartbeat_seconds
            next_session_check = loop.time() + poll
            while not self._signals.closed:
                # `exp` is wall-clock time, as the token verifier reads it.
                left = math.inf if expires_at is None else expires_at - time.time()
                timeout = max(0.0, min(poll, next_beat - loop.time(), left))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stream.wake.wait(), timeout)
                stream.wake.clear()
                if self._signals.closed:
                    return
                if expires_at is not None and time.time() >= expires_at:
                    yield StreamEnd("token_expired")
                    return
                if not stream.ended and stream.session_id is not None and loop.time() >= next_session_check:
                    stream.ended = await self._session_ended(stream.session_id)
                    next_session_check = loop.time() + poll
                if stream.ended:
                    yield StreamEnd("session_ended")
                    return
                for notification in await self._created_after(stream.user_id, watermark):
                    if notification.id not in seen:
                        seen.add(notification.id)
                        mark_hop(
                            "notification push",
                            notification.traceparent,
                            {"notification.kind": notification.kind},
                        )
                        yield notification
                if loop.time() >= next_beat:
                    yield Heartbeat
                    next_beat = loop.time() + self._settings.sse_heartbeat_seconds
        finally:
            self._signals.close(stream)

    async def end_session(self, user_id: UUID, session_id: UUID) -> None:
        """Auth ended a login session: remember it while its access tokens can still be
        valid (replicas' streams look it up), and end this process's streams of it."""
        now = self._clock.now()
        async with self._uow.transaction() as tx:
            if await tx.session.get(EndedSessionModel, session_id) is None:
                tx.session.add(EndedSessionModel(session_id=session_id, user_id=user_id, ended_at=now))
            # Older sessions' tokens have all expired: nothing can open a stream with them.
            await tx.session.execute(
                delete(EndedSessionModel).where(EndedSessionModel.ended_at < now - self._session_memory)
            )
            after_commit(tx.session, lambda: self._signals.end_session(user_id, session_id))

    async def _session_ended(self, session_id: UUID) -> bool:
        async with self._uow.read() as session:
            return await session.get(EndedSessionModel, session_id) is not None

    async def _created_after(self, user_id: UUID, watermark: UUID) -> list[NotificationModel]:
        async with self._uow.read() as session:
            rows = await session.scalars(
                select(NotificationModel)
                .where(NotificationModel.user_id == user_id, NotificationModel.id > watermark)
                .order_by(NotificationModel.id)
            )
            return list(rows.all())


def _uuid7_floor(unix_seconds: float) -> UUID:
    """The smallest UUIDv7 of that millisecond."""
    return UUID(int=(int(unix_seconds * 1000) << 80) | (0x7 << 76))


def _money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d} {currency}"


def provide_notification_service(module: ModuleRuntime) -> NotificationService:
    return NotificationService(
        module.uow,
        module.clock,
        module.config,
        provide_signals(module),
        access_token_ttl_seconds=module.settings.access_token_ttl_seconds,
    )
