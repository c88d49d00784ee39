"""A partition worker records a commit only once the broker took it, and a broker that
does not answer cannot hold up a rebalance."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, MagicMock, create_autospec

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError

from cloudtaskhub.events.kafka import KafkaBus
from cloudtaskhub.events.kafka._group import ConsumerGroup, _PartitionWorker, _Rebalance
from tests.support.kafka import RecordingConsumer, kafka_settings


async def _nothing_rejected(consumer: str, record: object, error: str) -> None:
    raise AssertionError("no record is rejected here")


async def _group_with_a_stand_in_broker(stuck_after: float = 60.0) -> tuple[ConsumerGroup, Any]:
    """A group whose Kafka client is a mock: its `commit` stands in for the broker's answers."""
    group = ConsumerGroup(
        RecordingConsumer("reader", {"pub"}),
        _nothing_rejected,
        {"bootstrap_servers": "127.0.0.1:9"},
        grace=1.0,
        stuck_after=stuck_after,
    )
    kafka = create_autospec(AIOKafkaConsumer, instance=True)
    await group._kafka.stop()  # never started
    group._kafka = kafka
    return group, kafka


async def test_a_failed_commit_is_tried_again_by_the_next_one() -> None:
    group, kafka = await _group_with_a_stand_in_broker()
    kafka.commit.side_effect = [CommitFailedError("rebalancing"), None]
    partition = TopicPartition("cloudtaskhub.pub.events", 0)
    worker = _PartitionWorker(group, partition)
    worker.position = 42

    await worker.commit()
    await worker.commit()
    worker.task.cancel()

    assert [call.args for call in kafka.commit.await_args_list] == [({partition: 42},), ({partition: 42},)]
    assert worker.committed == 42


async def test_the_group_commits_every_partitions_due_position_in_one_request() -> None:
    group, kafka = await _group_with_a_stand_in_broker()
    first, second, idle = (TopicPartition("cloudtaskhub.pub.events", n) for n in range(3))
    workers = [_PartitionWorker(group, partition) for partition in (first, second, idle)]
    workers[0].position, workers[1].position = 7, 3
    workers[2].position = workers[2].committed = 5  # nothing new settled there

    await group.commit_positions(workers)
    await group.commit_positions(workers)  # nothing due any more
    for worker in workers:
        worker.task.cancel()

    assert [call.args for call in kafka.commit.await_args_list] == [({first: 7, second: 3},)]
    assert [worker.committed for worker in workers] == [7, 3, 5]


async def _never_answered(offsets: object) -> None:
    await asyncio.Event().wait()


async def test_a_commit_the_broker_never_answers_does_not_hold_up_a_rebalance() -> None:
    group, kafka = await _group_with_a_stand_in_broker()
    kafka.commit.side_effect = _never_answered
    partition = TopicPartition("cloudtaskhub.pub.events", 0)
    worker = group._workers[partition] = _PartitionWorker(group, partition)
    worker.position = 42
    group.commit_soon()  # the background committer now waits on the broker, holding the lock
    await asyncio.sleep(0)

    started = time.monotonic()
    await asyncio.wait_for(group.release({partition}), timeout=5.0)

    # Both the committer's request and the revocation's own were given up (0.5 s each):
    # the next owner starts from the last committed offset and the inbox skips repeats.
    assert time.monotonic() - started < 2.0
    assert worker.committed is None
    assert partition not in group._workers
    group._committing.cancel()  # type: ignore[union-attr]


async def test_a_member_left_without_partitions_says_so_once_past_the_bound() -> None:
    group, _ = await _group_with_a_stand_in_broker(stuck_after=0.2)
    listener = _Rebalance(group)

    await listener.on_partitions_revoked(set())
    assert group.stuck_for() is None  # joining: normal for a while

    await asyncio.sleep(0.3)
    waited = group.stuck_for()
    assert waited is not None
    assert waited > 0.2

    await listener.on_partitions_assigned(set())  # an empty assignment is still an answer
    assert group.stuck_for() is None


async def test_readiness_fails_naming_the_module_whose_group_is_wedged(tmp_path: Path) -> None:
    group, _ = await _group_with_a_stand_in_broker(stuck_after=0.0)
    group._fetching = asyncio.create_task(asyncio.Event().wait())  # the fetch loop runs
    bus = KafkaBus(kafka_settings("127.0.0.1:9", tmp_path))
    bus._producer = MagicMock(client=MagicMock(fetch_all_metadata=AsyncMock()))  # the broker answers
    bus._groups = [group]

    await bus.check()  # assigned (never revoked): ready

    group.unassigned()
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match=r"without an assignment for reader \(\d+s\)"):
        await bus.check()
    group._fetching.cancel()
