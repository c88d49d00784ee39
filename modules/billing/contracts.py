"""Events the billing module publishes."""

__all__: list[str] = []
