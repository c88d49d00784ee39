"""A partition worker records a commit only once the broker took it."""

from __future__ import annotations

from typing import Any
from unittest.mock import create_autospec

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError

from cloudtaskhub.events.kafka._group import ConsumerGroup, _PartitionWorker
from tests.support.kafka import RecordingConsumer


async def _nothing_rejected(consumer: str, record: object, error: str) -> None:
    raise AssertionError("no record is rejected here")


async def _group_with_a_stand_in_broker() -> tuple[ConsumerGroup, Any]:
    """A group whose Kafka client is a mock: its `commit` stands in for the broker's answers."""
    group = ConsumerGroup(
        RecordingConsumer("reader", {"pub"}),
        _nothing_rejected,
        {"bootstrap_servers": "127.0.0.1:9"},
        grace=1.0,
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
