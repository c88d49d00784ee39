"""Events committed but not yet delivered when a process dies go out after restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from cloudtaskhub.testing import ModuleHarness
from modules.auth import module as auth
from tests.kernel.probe import probe, seen_emails

# A process that commits a registration (state + outbox row) and is killed before
# any relay runs: it never starts the runtime, so nothing is delivered.
_DIE_AFTER_COMMIT = textwrap.dedent(
    """
    import asyncio, os, sys
    from cloudtaskhub.runtime import Runtime
    from cloudtaskhub.testing import test_settings
    from modules.auth import module as auth
    from modules.auth.service import provide_auth_service
    from tests.kernel.probe import probe

    async def main():
        runtime = Runtime([auth, probe], test_settings(sys.argv[1], sys.argv[2]), environ={})
        await runtime.prepare()
        auth_service = provide_auth_service(runtime.module("auth"))
        await auth_service.register("ada@example.com", "correct horse battery", "Ada", "127.0.0.1")
        print("committed", flush=True)
        os.kill(os.getpid(), 9)

    asyncio.run(main())
    """
)


async def test_rows_pending_when_the_process_dies_are_delivered_after_restart(database_url, tmp_path):  # type: ignore[no-untyped-def]
    child = subprocess.run(
        [sys.executable, "-c", _DIE_AFTER_COMMIT, database_url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.getcwd(),
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert "committed" in child.stdout

    async with ModuleHarness([auth, probe], database_url=database_url, data_dir=str(tmp_path)) as harness:
        assert (await harness.runtime.module("auth").outbox_status()).pending == 1
        await harness.settle()

        assert await seen_emails(harness.runtime.module("probe")) == {"ada@example.com": 1}
        assert (await harness.runtime.module("auth").outbox_status()).pending == 0
