"""The base of every event contract.

A contract is an immutable msgspec Struct in its publisher's `contracts.py`::

    class UserRegistered(Event, frozen=True):
        __event_type__ = event_type("auth", "user_registered", 1)
        __subject__ = "user_id"

        user_id: UUID
        email: str

Consumers decode with unknown fields ignored (msgspec's default), so a publisher
may add optional fields without breaking anyone. A breaking change is a new
version: a new Struct with `v2` in its type. While consumers still read `v1`,
the new Struct names its predecessor and how to express itself in it::

    class TaskAssignedV2(Event, frozen=True):
        __event_type__ = event_type("project", "task_assigned", 2)
        __previous__ = (TaskAssigned, lambda e: TaskAssigned(task_id=e.task_id, ...))

and the relay publishes both versions under one event id (dual publishing,
`CTH_DUAL_PUBLISH`; see docs/operations.md, "Event contract evolution").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, ClassVar

import msgspec

__all__ = ["Event", "event_type", "parse_event_type"]

_TYPE = re.compile(r"^cloudtaskhub\.(?P<source>[a-z_*]+)\.(?P<name>[a-z_]+)\.v(?P<version>\d+)$")


def event_type(source: str, name: str, version: int) -> str:
    """`cloudtaskhub.<source>.<name>.v<version>`; source `*` means any module."""
    return f"cloudtaskhub.{source}.{name}.v{version}"


#: Every consumer asks, for every event, whether each of its subscriptions matches its
#: type; parsing the same few types with the regex each time was a tenth of a relay's
#: and a consumer's work per event. Bounded: a broker may carry any string as a type.
@functools.lru_cache(maxsize=1024)
def parse_event_type(value: str) -> tuple[str, str, int]:
    match = _TYPE.match(value)
    if match is None:
        raise ValueError(f"not a CloudTaskHub event type: {value!r}")
    return match["source"], match["name"], int(match["version"])


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base class of event contracts (the `data` of an envelope)."""

    #: Full CloudEvents `type`, built with :func:`event_type`.
    __event_type__: ClassVar[str]
    #: Name of the field holding the aggregate id (the envelope `subject`, the Kafka key).
    __subject__: ClassVar[str]
    #: Durable events go through the outbox and the consumer's inbox. Non-durable ones
    #: (heartbeats) are published straight to the bus and may be lost without harm.
    __durable__: ClassVar[bool] = True
    #: The previous version of this type and a function turning an event of this
    #: version into it; set during a version transition (dual publishing).
    __previous__: ClassVar[tuple[type[Event], Callable[[Any], Event]] | None] = None

    # Prefixed names: contracts may well have fields called `name` or `version`.
    @classmethod
    def event_source(cls) -> str:
        return parse_event_type(cls.__event_type__)[0]

    @classmethod
    def event_name(cls) -> str:
        return parse_event_type(cls.__event_type__)[1]

    @classmethod
    def event_version(cls) -> int:
        return parse_event_type(cls.__event_type__)[2]

    def subject(self) -> str:
        return str(getattr(self, self.__subject__))

    def type_for(self, source: str) -> str:
        """The concrete type; a wildcard-source contract takes the publisher's name."""
        _, name, version = parse_event_type(self.__event_type__)
        return event_type(source, name, version)

    @classmethod
    def matches(cls, type_: str) -> bool:
        if type_ == cls.__event_type__:
            return True
        source, name, version = parse_event_type(cls.__event_type__)
        if source != "*":
            return False
        try:
            _, other_name, other_version = parse_event_type(type_)
        except ValueError:
            return False
        return (other_name, other_version) == (name, version)

    @classmethod
    def previous_versions(cls) -> list[type[Event]]:
        """Every older version still declared, newest first (empty outside a transition)."""
        chain: list[type[Event]] = []
        current: type[Event] = cls
        while current.__previous__ is not None:
            previous = current.__previous__[0]
            source, name, version = parse_event_type(current.__event_type__)
            if parse_event_type(previous.__event_type__)[:2] != (source, name) or (
                previous.event_version() >= version
            ):
                raise TypeError(
                    f"{current.__event_type__} cannot declare {previous.__event_type__} "
                    "as its previous version"
                )
            chain.append(previous)
            current = previous
        return chain

    def downgrade(self) -> list[Event]:
        """This event expressed in each older declared version, newest first."""
        events: list[Event] = []
        current: Event = self
        while type(current).__previous__ is not None:
            previous, convert = type(current).__previous__  # type: ignore[misc]
            current = convert(current)
            if type(current) is not previous:
                raise TypeError(f"{type(self).__name__}.__previous__ must build a {previous.__name__}")
            events.append(current)
        return events

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        return msgspec.json.schema(cls)
