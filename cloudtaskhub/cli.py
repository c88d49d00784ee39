"""CLI seedwork: run a coroutine against a runtime built exactly as `serve` builds it.

Module commands (e.g. `cloudtaskhub billing close-period`) are declared in the
module with `module_command`, and receive their `ModuleRuntime`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import click

from cloudtaskhub.events.memory import InProcessBus
from cloudtaskhub.module import Module
from cloudtaskhub.runtime import ModuleRuntime, Runtime
from cloudtaskhub.settings import Settings, SettingsError, load_settings

__all__ = ["module_command", "open_runtime", "run_cli"]

T = TypeVar("T")


@asynccontextmanager
async def open_runtime(modules: Sequence[Module], settings: Settings | None = None) -> AsyncIterator[Runtime]:
    """A runtime with schemas ready but no consumers: for one-off commands."""
    runtime = Runtime(modules, settings or load_settings(), bus=InProcessBus())
    await runtime.prepare()
    try:
        yield runtime
    finally:
        await runtime.databases.dispose()


def run_cli(coroutine: Awaitable[T]) -> T:
    try:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    except SettingsError as error:
        raise click.ClickException(f"bad configuration: {error}") from None


def module_command(
    module: str, **command_options: Any
) -> Callable[[Callable[..., Awaitable[Any]]], click.Command]:
    """Turn `async def f(module_runtime, **options)` into a click command.

    The entry point puts the registry's modules in `click.Context.obj["modules"]`.
    """

    def decorate(function: Callable[..., Awaitable[Any]]) -> click.Command:
        @functools.wraps(function)
        def command(**options: Any) -> Any:
            context = click.get_current_context()
            modules = [m for m in context.find_root().obj["modules"] if m.name == module]

            async def run() -> Any:
                async with open_runtime(modules) as runtime:
                    target: ModuleRuntime = runtime.module(module)
                    return await function(target, **options)

            return run_cli(run())

        return cast(click.Command, click.command(**command_options)(command))

    return decorate
