"""`cloudtaskhub auth ...` commands: the operator's side of accounts.

The admin role is granted here, by someone with a shell on the server and the
database's credentials — never by anything a client can send.
"""

from __future__ import annotations

import click

from cloudtaskhub.cli import module_command
from cloudtaskhub.runtime import ModuleRuntime
from modules.auth.service import UserNotFound, provide_auth_service

__all__ = ["auth_cli"]


@click.group("auth")
def auth_cli() -> None:
    """Accounts: grant or revoke the admin role."""


@click.argument("email")
@module_command("auth", name="grant-admin", help="Give the account registered as EMAIL the admin role.")
async def grant_admin(module: ModuleRuntime, email: str) -> None:
    try:
        user = await provide_auth_service(module).grant_admin(email)
    except UserNotFound:
        raise click.ClickException(f"no account is registered as {email!r}") from None
    click.echo(f"{user.email} ({user.id}) is an admin from its next sign-in or token refresh")


@click.argument("email")
@module_command("auth", name="revoke-admin", help="Take the admin role from the account registered as EMAIL.")
async def revoke_admin(module: ModuleRuntime, email: str) -> None:
    try:
        revoked = await provide_auth_service(module).revoke_admin(email)
    except UserNotFound:
        raise click.ClickException(f"no account is registered as {email!r}") from None
    if revoked:
        click.echo(f"{email}: admin role revoked (tokens already issued keep it until they expire)")
    else:
        click.echo(f"{email}: had no granted admin role")


auth_cli.add_command(grant_admin)
auth_cli.add_command(revoke_admin)
