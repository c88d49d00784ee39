"""The Kafka bus (aiokafka), chosen with `CTH_BUS=kafka`.

- one topic per publishing module, `cloudtaskhub.<module>.events`, created on start
  (partitions and replication from settings); key = subject (aggregate id), so one
  aggregate's events keep their order;
- CloudEvents binary content mode (see `_records`);
- one consumer group per consuming module, one worker per assigned partition,
  offsets committed only after the dispatcher settled the record (see `_group`);
- a dead-letter topic per consumer, `cloudtaskhub.<consumer>.dlq`, carrying the
  original record plus `cth_error`, `cth_attempts`, `cth_failed_at` headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from cloudtaskhub.events.bus import Consumer, topic_for
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.events.kafka._group import EVERY_EVENT_TOPIC, ConsumerGroup, group_id
from cloudtaskhub.events.kafka._records import failure_headers, options_repr, record_for
from cloudtaskhub.settings import Settings

__all__ = ["EVERY_EVENT_TOPIC", "KafkaBus", "dlq_topic", "group_id", "topic_for"]

log = logging.getLogger("cloudtaskhub.events.kafka")

_TOPIC_ALREADY_EXISTS = 36
#: How long `start` keeps trying to reach the broker (it may be starting too).
CONNECT_DEADLINE_SECONDS = 60.0
#: How long shutdown and rebalances wait for a handler in flight.
HANDLER_GRACE_SECONDS = 10.0
#: A member without an assignment for this many rebalance timeouts (at least a minute)
#: is wedged, not joining: readiness fails so the orchestrator replaces the process.
STUCK_REBALANCES = 6


def dlq_topic(consumer: str) -> str:
    return f"cloudtaskhub.{consumer}.dlq"


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by producer, consumers and admin."""
    options: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()],
        "security_protocol": settings.kafka_security_protocol,
        "client_id": f"cloudtaskhub-{settings.process_name or 'process'}",
        "metadata_max_age_ms": settings.kafka_metadata_max_age_ms,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


class KafkaBus:
    kind = "kafka"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._options = client_options(settings)
        self._producer: AIOKafkaProducer | None = None
        self._groups: list[ConsumerGroup] = []

    # -- lifecycle -------------------------------------------------------------

    async def start(self, consumers: Sequence[Consumer], publishers: Sequence[str]) -> None:
        log.info("kafka bus: %s", options_repr(self._options))
        self._producer = await self._connect()
        topics = {topic_for(p) for p in publishers}
        # A consumer may start before its publishers: make their topics exist so the
        # subscription is complete from the first assignment.
        topics |= {topic_for(s) for c in consumers for s in c.sources if s != "*"}
        topics |= {dlq_topic(c.module) for c in consumers}
        await self._create_topics(sorted(topics))
        settings = self._settings
        group_options = {
            **self._options,
            "session_timeout_ms": settings.kafka_session_timeout_ms,
            "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
            "rebalance_timeout_ms": settings.kafka_session_timeout_ms,
            "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
        }
        # A rebalance waits for our revocation; finishing a handler must not take so
        # long that the group gives up on this member.
        grace = min(HANDLER_GRACE_SECONDS, settings.kafka_session_timeout_ms / 2000)
        stuck_after = max(60.0, STUCK_REBALANCES * settings.kafka_session_timeout_ms / 1000)
        for consumer in consumers:
            group = ConsumerGroup(
                consumer,
                self._reject,
                group_options,
                grace=grace,
                stuck_after=stuck_after,
                leave_group=settings.kafka_leave_group_on_stop,
                max_records=settings.kafka_max_poll_records,
                batch_max=settings.bus_consumer_batch_max,
            )
            await group.start()
            self._groups.append(group)

    async def _connect(self) -> AIOKafkaProducer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONNECT_DEADLINE_SECONDS
        delay = 0.2
        while True:
            producer = AIOKafkaProducer(
                acks="all",
                enable_idempotence=self._settings.kafka_idempotent_producer,
                linger_ms=self._settings.kafka_linger_ms,
                **self._options,
            )
            try:
                await producer.start()
                return producer
            except KafkaConnectionError as error:
                await producer.stop()
                if loop.time() + delay > deadline:
                    raise
                log.warning("kafka not reachable yet (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _create_topics(self, names: list[str]) -> None:
        admin = AIOKafkaAdminClient(**self._options)
        await admin.start()
        try:
            partitions = self._settings.kafka_topic_partitions
            replication = self._settings.kafka_replication_factor
            new = [NewTopic(name, partitions, replication) for name in names]
            try:
                response = await admin.create_topics(new)
            except TopicAlreadyExistsError:
                return
            for topic, code, message in (e[:3] for e in response.topic_errors):
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    raise KafkaError(f"cannot create topic {topic}: error {code} {message}")
        finally:
            await admin.close()

    async def stop(self) -> None:
        """Stop fetching, let handlers in flight finish and commit, then disconnect."""
        groups, self._groups = self._groups, []
        await asyncio.gather(*(group.stop() for group in groups))
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    # -- publishing ------------------------------------------------------------

    def _require_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise KafkaConnectionError("kafka bus is not started")
        return self._producer

    async def publish(self, envelopes: Sequence[Envelope]) -> Sequence[asyncio.Future[None]]:
        """Produce in order and wait for the broker's acknowledgement of every record."""
        producer = self._require_producer()
        deliveries = []
        for envelope in envelopes:
            key, value, headers = record_for(envelope)
            topic = topic_for(envelope.source)
            deliveries.append(await producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*deliveries)
        loop = asyncio.get_running_loop()
        done: list[asyncio.Future[None]] = []
        for _ in envelopes:
            future: asyncio.Future[None] = loop.create_future()
            future.set_result(None)
            done.append(future)
        return done

    async def dead_letter(self, consumer: str, envelope: Envelope, error: str, attempts: int) -> None:
        key, value, headers = record_for(envelope)
        await self._produce_dead_letter(consumer, key, value, headers, error, attempts)

    async def _reject(self, consumer: str, record: Any, error: str) -> None:
        """A record no dispatcher can read goes straight to the consumer's DLQ."""
        headers = list(record.headers)
        await self._produce_dead_letter(consumer, record.key, record.value, headers, error, 1)

    async def _produce_dead_letter(
        self,
        consumer: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        error: str,
        attempts: int,
    ) -> None:
        producer = self._require_producer()
        headers = failure_headers(headers, error, attempts, datetime.now(UTC))
        await producer.send_and_wait(dlq_topic(consumer), value=value, key=key, headers=headers)

    # -- health ----------------------------------------------------------------

    async def check(self) -> None:
        producer = self._require_producer()
        await producer.client.fetch_all_metadata()
        stopped = [g.consumer.module for g in self._groups if not g.running]
        if stopped:
            raise RuntimeError(f"kafka consumer stopped for {', '.join(stopped)}")
        stuck = [(g.consumer.module, g.stuck_for()) for g in self._groups]
        if wedged := [f"{module} ({waited:.0f}s)" for module, waited in stuck if waited is not None]:
            raise RuntimeError(f"kafka consumer group without an assignment for {', '.join(wedged)}")

    def assignment(self, consumer: str) -> set[TopicPartition]:
        """Partitions currently assigned to `consumer`'s group member here (tests, diagnostics)."""
        return {p for g in self._groups if g.consumer.module == consumer for p in g.assignment()}
