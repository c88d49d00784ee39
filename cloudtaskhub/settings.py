"""Typed settings read from the environment (`CTH_*` plus the standard `OTEL_*`).

Every value is parsed once at start-up; a bad value stops the process with one
error that names the variable, what it expected and what it got.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from ipaddress import ip_network
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints
from uuid import UUID

__all__ = ["Settings", "SettingsError", "load_settings", "module_database_url"]


class SettingsError(ValueError):
    """A configuration variable holds a value we cannot use."""

    def __init__(self, variable: str, expected: str, got: str) -> None:
        super().__init__(f"{variable}: expected {expected}, got {got!r}")
        self.variable = variable


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Process-wide settings. Field `foo_bar` is read from `CTH_FOO_BAR`."""

    env: Literal["dev", "test", "prod"] = "dev"
    modules: tuple[str, ...] = ("all",)
    bus: Literal["memory", "kafka"] = "memory"
    data_dir: Path = Path("var")
    database_url: str = ""
    #: migrate: run each module's Alembic revisions at start; create: create_all (tests,
    #: throwaway databases); none: schema is managed out of band (`cloudtaskhub db upgrade`).
    db_bootstrap: Literal["migrate", "create", "none"] = "migrate"
    #: File whose content replaces the password in every PostgreSQL URL (Swarm secret).
    database_password_file: str = ""
    #: Connections per database, all kept once opened (see `db.engines`): PostgreSQL up
    #: to 2 × db_pool_size, SQLite up to db_pool_size + 10.
    db_pool_size: int = 10
    #: PostgreSQL connections each pool opens at start, before the process reports ready
    #: (see `Databases.open_connections`); at most 2 × db_pool_size. Three is what an idle
    #: split task holds (relay, a consumer batch) plus a request; all-in-one opens it per
    #: module database, 18 per replica, which the stack's PostgreSQL (100 connections)
    #: holds through a start-first update or a shape switch.
    db_connections_at_start: int = 3
    #: SQLite page cache per connection. SQLite's default (2 MiB) times a pool of up to
    #: db_pool_size + 10 connections made a long-running process grow with its database;
    #: pages not cached come from the OS page cache (no latency cost in the soak's A/B).
    sqlite_cache_kib: int = 512
    #: C allocator arenas per process (glibc); 0 keeps glibc's default of 8 per core.
    #: One per SQLite worker thread fragmented memory (see `cloudtaskhub.allocator`).
    malloc_arena_max: int = 2
    version: str = "0.1.0"
    process_name: str = ""

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str = "PLAIN"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""
    kafka_topic_partitions: int = 4
    kafka_replication_factor: int = 1
    kafka_idempotent_producer: bool = True
    kafka_session_timeout_ms: int = 10000
    kafka_heartbeat_interval_ms: int = 3000
    #: A stopping member leaves its groups at once (LeaveGroup), so its partitions move
    #: without waiting out the session timeout. Off only for a broker that mishandles it:
    #: Tansu 0.6 wedges a group for good when its leader leaves mid-rebalance (README,
    #: "Deployed for real"); a member that just goes quiet is evicted after the session
    #: timeout instead, and the group re-forms.
    kafka_leave_group_on_stop: bool = True
    #: How soon a consumer of every module's topic (pattern subscription) sees a new topic.
    kafka_metadata_max_age_ms: int = 30000
    #: How long the broker may hold a fetch waiting for records: most of the commit→handler
    #: latency at moderate rates. Raw aiokafka through Tansu at 500 events/s: p99 310 ms at
    #: aiokafka's default of 500, 59 ms at 50 (README, "Configuration"). Lower costs idle
    #: fetches (one per consumer group every this many ms).
    kafka_fetch_max_wait_ms: int = 20
    #: Records one fetch returns at most (over the assigned partitions).
    kafka_max_poll_records: int = 500
    #: How long the producer waits to fill a batch before sending it.
    kafka_linger_ms: int = 0

    jwt_private_key_file: str = ""
    jwt_public_key_file: str = ""
    jwt_issuer: str = "cloudtaskhub"
    jwt_audience: str = "cloudtaskhub-api"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 1_209_600
    #: Accounts (user ids) that get the admin role; besides these, `cloudtaskhub auth
    #: grant-admin EMAIL` run on the server. Never an email: anyone can register one.
    admin_user_ids: tuple[str, ...] = ()

    outbox_poll_interval_seconds: float = 1.0
    #: Rows a relay hands to the bus per pump. Only a backlog fills one (after an outage,
    #: a burst); the in-process bus spreads it over its lanes, so it bounds the consumers'
    #: batches too: at 100, PostgreSQL consumers drained 12-row batches, at 500 about 60
    #: and 1.6x the events/s (README, "Benchmarks"). At a steady rate pumps stay small.
    outbox_batch_size: int = 500
    #: Published outbox rows are kept this long (for inspection), then purged ...
    outbox_retention_seconds: float = 3600.0
    #: ... by a timer of this period in each relay, whatever the traffic.
    outbox_purge_interval_seconds: float = 60.0
    handler_max_attempts: int = 5
    handler_backoff_base_seconds: float = 0.2
    handler_backoff_max_seconds: float = 30.0
    bus_lanes: int = 8
    #: In-process bus: events one consumer may hold unsettled. Past it the consumer
    #: defers newer events (they stay in the outbox) while the others go on.
    bus_consumer_capacity: int = 1000
    #: Events a consumer takes in one transaction (a savepoint each): at most this many
    #: of one lane (in-process) or partition (Kafka), whatever is waiting, never waiting
    #: for more. One commit per batch instead of per event (README, "Benchmarks").
    bus_consumer_batch_max: int = 100
    heartbeat_interval_seconds: float = 5.0
    #: After SIGTERM, keep serving this long (readiness answers 503) before the server
    #: stops accepting: the edge (Traefik polling Swarm) stops routing here first. 0: none.
    shutdown_drain_seconds: float = 0.0
    #: Which contracts that declare a `__previous__` version are also published in it:
    #: `all`, `none`, or event types (`project.task_assigned.v2`). docs/operations.md.
    dual_publish: tuple[str, ...] = ("all",)

    login_max_failures: int = 5
    login_lockout_seconds: int = 300
    #: Register and login hash a password before anyone is authenticated: requests per
    #: client address per minute, and for all clients together per second, per process.
    password_requests_per_client_per_minute: int = 60
    password_requests_per_second: int = 20
    #: Addresses or networks of reverse proxies whose X-Forwarded-For / -Proto count
    #: (uvicorn's forwarded_allow_ips). Empty: forwarded headers are ignored, and the
    #: client address is the peer's — a client cannot choose its own address.
    trusted_proxies: tuple[str, ...] = ()
    max_request_body_bytes: int = 1_048_576
    #: Prometheus metrics are served on this port only, by a listener of their own; the
    #: app's port has no /metrics (the edge routes only that one). 0: no metrics listener.
    metrics_port: int = 0
    #: Interface of the metrics listener: 0.0.0.0 where Prometheus scrapes over a network.
    metrics_host: str = "127.0.0.1"
    cors_allow_origins: tuple[str, ...] = ()

    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    otel_service_name: str = ""
    otel_exporter_otlp_endpoint: str = ""
    otel_sdk_disabled: bool = False

    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Zero or negative sizes do not fail where they are set but far away (a pool that
        # never hands out a connection, a PRAGMA that silently means something else).
        for name in _POSITIVE:
            value = getattr(self, name)
            if value <= 0:
                raise SettingsError(_variable_name("CTH_", name), "a number greater than 0", str(value))
        if not 0 <= self.db_connections_at_start <= 2 * self.db_pool_size:
            raise SettingsError(
                "CTH_DB_CONNECTIONS_AT_START",
                f"a number of connections from 0 to {2 * self.db_pool_size} (2 x CTH_DB_POOL_SIZE)",
                str(self.db_connections_at_start),
            )
        if self.malloc_arena_max < 0:
            raise SettingsError(
                "CTH_MALLOC_ARENA_MAX",
                "a number of arenas, or 0 for glibc's default",
                str(self.malloc_arena_max),
            )
        if not 0 <= self.metrics_port <= 65535:
            raise SettingsError(
                "CTH_METRICS_PORT", "a TCP port (1-65535), or 0 for none", str(self.metrics_port)
            )
        for proxy in self.trusted_proxies:
            try:
                ip_network(proxy, strict=False)
            except ValueError:
                raise SettingsError("CTH_TRUSTED_PROXIES", "IP addresses or networks (CIDR)", proxy) from None
        for user_id in self.admin_user_ids:
            try:
                UUID(user_id)
            except ValueError:
                raise SettingsError(
                    "CTH_ADMIN_USER_IDS", "comma-separated user ids (UUIDs)", user_id
                ) from None
        # The email-based grant is gone (anyone could register the address); a deployment
        # still relying on it must not start as if its admins were set.
        if self.extra.get("CTH_ADMIN_EMAILS", "").strip():
            raise SettingsError(
                "CTH_ADMIN_EMAILS",
                "nothing (removed): grant admin with CTH_ADMIN_USER_IDS or `cloudtaskhub auth grant-admin`",
                self.extra["CTH_ADMIN_EMAILS"],
            )

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def default_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'cloudtaskhub.db'}"

    def database_url_for(self, module: str) -> str:
        return module_database_url(self, module)


def module_database_url(settings: Settings, module: str) -> str:
    """`CTH_<MODULE>_DATABASE_URL`, falling back to `CTH_DATABASE_URL`."""
    url = settings.extra.get(f"CTH_{module.upper()}_DATABASE_URL") or settings.default_database_url
    if settings.database_password_file and not url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        password = Path(settings.database_password_file).read_text().strip()
        url = make_url(url).set(password=password).render_as_string(hide_password=False)
    return url


_POSITIVE = (
    "db_pool_size",
    "sqlite_cache_kib",
    "kafka_topic_partitions",
    "kafka_replication_factor",
    "kafka_fetch_max_wait_ms",
    "kafka_max_poll_records",
    "outbox_poll_interval_seconds",
    "outbox_batch_size",
    "outbox_retention_seconds",
    "outbox_purge_interval_seconds",
    "bus_consumer_capacity",
    "bus_consumer_batch_max",
    "handler_max_attempts",
    "bus_lanes",
    "heartbeat_interval_seconds",
    "access_token_ttl_seconds",
    "refresh_token_ttl_seconds",
    "login_max_failures",
    "password_requests_per_client_per_minute",
    "password_requests_per_second",
    "max_request_body_bytes",
)
_OTEL_FIELDS = {"otel_service_name", "otel_exporter_otlp_endpoint", "otel_sdk_disabled"}

T = TypeVar("T")


def _variable_name(prefix: str, name: str) -> str:
    if name in _OTEL_FIELDS:
        return name.upper()
    return f"{prefix}{name.upper()}"


def _parse(variable: str, raw: str, annotation: Any) -> Any:
    origin = get_origin(annotation)
    if annotation is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise SettingsError(variable, "a boolean (true/false)", raw)
    if annotation is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(variable, "an integer", raw) from None
    if annotation is float:
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(variable, "a number", raw) from None
    if annotation is Path:
        return Path(raw)
    if origin is Literal:
        choices = get_args(annotation)
        if raw not in choices:
            raise SettingsError(variable, "one of " + ", ".join(map(str, choices)), raw)
        return raw
    if origin is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def load_settings(
    cls: type[T] = Settings,  # type: ignore[assignment]
    *,
    environ: Mapping[str, str] | None = None,
    prefix: str = "CTH_",
    **overrides: Any,
) -> T:
    """Build a settings dataclass from `environ` (default `os.environ`).

    Modules use the same function for their own slice, e.g.
    `load_settings(BillingSettings, prefix="CTH_BILLING_")`.
    """
    env = os.environ if environ is None else environ
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name == "extra" or f.name in overrides:
            continue
        variable = _variable_name(prefix, f.name)
        if variable in env:
            values[f.name] = _parse(variable, env[variable], hints[f.name])
    if "extra" in {f.name for f in fields(cls)}:  # type: ignore[arg-type]
        values["extra"] = {k: v for k, v in env.items() if k.startswith(prefix)}
    values.update(overrides)
    return cls(**values)
