"""Events the notification module publishes."""

__all__: list[str] = []
