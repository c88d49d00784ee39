"""A process running one tally module on the Kafka bus until it is killed.

    python -m tests.support.consumer_process <module> <source> <database_url> <bootstrap>

Used to kill a consumer with SIGKILL mid-stream and start it again.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cloudtaskhub.runtime import Runtime
from tests.support.kafka import kafka_settings
from tests.support.tally import tally_module


async def main(name: str, source: str, database_url: str, bootstrap: str) -> None:
    data_dir = Path(database_url.rsplit("///", 1)[-1]).parent
    settings = kafka_settings(
        bootstrap,
        data_dir,
        database_url=database_url,
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=300,
    )
    runtime = Runtime([tally_module(name, source)], settings)
    await runtime.start(background=False)
    print("consuming", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
