"""Kafka bus tests run against a real Kafka-protocol broker (Tansu) started once per session."""

from tests.support.broker import broker

__all__ = ["broker"]
