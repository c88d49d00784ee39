"""Events the gateway publishes: none besides the kernel heartbeat.

The gateway composes read models from everyone else's events and serves them.
"""

__all__: list[str] = []
