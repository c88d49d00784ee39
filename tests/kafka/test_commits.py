"""A partition worker records a commit only once the broker took it."""

from __future__ import annotations

from unittest.mock import create_autospec

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError

from cloudtaskhub.events.kafka._group import ConsumerGroup, _PartitionWorker
from tests.support.kafka import RecordingConsumer


async def _nothing_rejected(consumer: str, record: object, error: str) -> None:
    raise AssertionError("no record is rejected here")


async def test_a_failed_commit_is_tried_again_by_the_next_one() -> None:
    group = ConsumerGroup(
        RecordingConsumer("reader", {"pub"}),
        _nothing_rejected,
        {"bootstrap_servers": "127.0.0.1:9"},
        grace=1.0,
    )
    kafka = create_autospec(AIOKafkaConsumer, instance=True)
    kafka.commit.side_effect = [CommitFailedError("rebalancing"), None]
    await group._kafka.stop()  # never started: stands in for the broker's answers
    group._kafka = kafka
    partition = TopicPartition("cloudtaskhub.pub.events", 0)
    worker = _PartitionWorker(group, partition)
    worker.position = 42

    await worker.commit()
    await worker.commit()
    worker.task.cancel()

    assert [call.args for call in kafka.commit.await_args_list] == [({partition: 42},), ({partition: 42},)]
    assert worker.committed == 42
