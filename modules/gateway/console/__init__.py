"""The web console: one page to sign in, work the task board, follow notifications
live and (for admins) watch the running system.

It is static HTML/CSS/JS served by the gateway at `/console`; the browser talks
to the public HTTP API only, exactly like any other client, so the console adds
nothing to any module's boundaries and works the same in both shapes. The one
server-side handler is `/console/links.json`: the operator links (Grafana,
Jaeger, Prometheus) configured with `CTH_CONSOLE_*`.

Export: `console_handlers`, mounted by the gateway module descriptor.
"""

from modules.gateway.console.router import console_handlers

__all__ = ["console_handlers"]
