"""Events the project module publishes."""

__all__: list[str] = []
