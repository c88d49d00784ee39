"""Events the analytics module publishes."""

__all__: list[str] = []
