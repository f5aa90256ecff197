"""Every setting of the gateway, read from `ATLAS4D_*` environment variables (or a `.env` file).

Settings are built by `Settings()` at start-up, never at import time; docs/configuration.md lists each one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# What ATLAS4D_ENV=production turns off unless the variable itself is set (docs/security.md)
PRODUCTION_OFF = ("introspection", "graphiql", "suggestions", "subgraph_routes")


def default_data_dir() -> Path:
    """Where the embedded cluster lives when `ATLAS4D_DATA_DIR` is unset.

    The user's data dir, except for root: PostgreSQL runs as the `postgres` OS user then, and it cannot
    enter `/root`, so root's clusters live under `/var/lib/atlas4d`.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/atlas4d")
    return Path(platformdirs.user_data_dir("atlas4d"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATLAS4D_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = Field(
        default="development",
        description="`production` turns introspection, GraphiQL, suggestions and the public subgraph routes off "
        "unless set explicitly, and anonymous access off (docs/security.md).",
    )
    database_url: str | None = Field(
        default=None, description="PostgreSQL 15+ with PostGIS. Unset: the embedded cluster is used."
    )
    read_database_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Streaming replicas of the database (comma-separated URLs): read-only requests are served "
        "by a fresh one (docs/scaling.md).",
    )
    read_max_lag_ms: int = Field(
        default=5_000,
        gt=0,
        description="A replica that has not replayed the primary's writes of this long ago gets no reads.",
    )
    read_check_interval_ms: int = Field(
        default=500, gt=0, description="How often replica lag (WAL positions) is checked."
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="Home of the embedded cluster.")
    embedded_port: int = Field(default=54329, description="Loopback port of the embedded cluster.")
    embedded_database: str = Field(default="atlas4d", description="Database name in the embedded cluster.")

    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(default=4000, description="Port the HTTP server binds.")
    workers: int = Field(default=1, description="uvicorn worker processes.")

    pool_min_size: int = Field(default=2, description="Connections kept open per process.")
    pool_max_size: int = Field(default=10, description="Most connections per process.")
    statement_timeout_ms: int = Field(default=30_000, description="PostgreSQL statement_timeout per query.")
    db_connect_timeout_s: float = Field(
        default=10.0, description="Longest wait for one new database connection (then: unreachable)."
    )
    db_retry_max_s: float = Field(
        default=10.0,
        description="While the database is unreachable the server runs degraded and retries, waiting "
        "0.5 s, then twice as long each time, up to this.",
    )
    max_parallel_workers_per_gather: int = Field(
        default=0, description="PostgreSQL parallel workers per query; 0 serves more concurrent requests."
    )

    default_page_size: int = Field(default=100, description="`first` when a list field is not given one.")
    max_page_size: int = Field(default=10_000, description="Largest `first`; larger is an error.")
    max_ingest_batch: int = Field(default=10_000, description="Most items per ingest mutation call.")
    copy_threshold: int = Field(default=200, description="Ingest batches at least this big use COPY.")
    max_query_depth: int = Field(default=12, description="Deepest selection nesting accepted.")
    max_aliases: int = Field(default=100, description="Most aliased fields in one operation.")
    max_tokens: int = Field(default=10_000, description="Most lexical tokens in one document.")
    max_query_bytes: int = Field(
        default=256 * 1024,
        description="Longest GraphQL document text (parsing costs ~0.1 µs a character, comments included).",
    )
    max_body_bytes: int = Field(default=8 * 1024 * 1024, description="Largest HTTP request body.")
    bulk_max_body_bytes: int = Field(
        default=1024 * 1024 * 1024, description="Largest body of the bulk NDJSON/CSV ingest endpoint."
    )
    bulk_max_line_bytes: int = Field(
        default=1024 * 1024,
        description="Longest line (NDJSON) or record (CSV) of a bulk ingest body or file.",
    )
    max_fields: int = Field(
        default=2_000, description="Most field selections in one document, fragments expanded where spread."
    )
    max_cost: int = Field(
        default=25_000, description="Highest estimated cost (objects an operation can produce) accepted."
    )
    max_list_items: int = Field(default=10_000, description="Most items in one list of the variables.")
    max_input_depth: int = Field(default=64, description="Deepest nesting of the variables' JSON.")
    max_input_values: int = Field(default=500_000, description="Most values in all variables together.")
    request_timeout_ms: int = Field(
        default=30_000, description="Deadline of one request; its resolvers and SQL are cancelled at it."
    )
    body_timeout_ms: int = Field(default=10_000, description="Time a client has to send a request body.")
    shutdown_timeout_s: int = Field(
        default=25,
        gt=0,
        description="On SIGTERM, how long requests in flight may finish before the process exits anyway "
        "(under Kubernetes' default 30 s terminationGracePeriodSeconds).",
    )
    introspection: bool = Field(default=True, description="Allow __schema/__type queries.")
    suggestions: bool = Field(default=True, description="'Did you mean …?' in validation errors.")
    compiled_queries: bool = Field(
        default=True,
        description="Answer plain observation and entity pages with one compiled statement each.",
    )
    time_slices: bool = Field(
        default=False,  # measured slower with today's (geography, t) index: docs/performance.md
        description="Read observation pages near a place newest-first in time slices (atlas4d.core.slices).",
    )
    gc_freeze: bool = Field(
        default=True,
        description="After start-up, move every object alive (schemas, plans, modules) out of the cyclic "
        "garbage collector's reach (gc.freeze), so collections during requests stay short.",
    )
    graphiql: bool = Field(default=True, description="Serve GraphiQL to browsers on GET /graphql.")
    get_queries: bool = Field(
        default=True, description="Accept queries sent with GET (`?query=`); false: POST only (405)."
    )
    subgraph_routes: bool = Field(
        default=True,
        description="Serve each subgraph at /subgraphs/<name>/graphql (`_service`, `_entities`: for peer "
        "gateways). Production: off unless set, or unless ATLAS4D_SUBGRAPH_SECRET is set.",
    )
    subgraph_secret: str | None = Field(
        default=None,
        description="Shared secret callers of the subgraph routes must send in X-Atlas4D-Subgraph-Secret "
        "(else 403); the gateway sends it to the remote subgraphs it calls.",
    )
    subscription_urls: dict[str, str] = Field(
        default_factory=dict,
        description="`atlas4d gateway`: graphql-transport-ws URL per remote subgraph for subscriptions, as JSON "
        '({"core": "wss://core.internal/ws"}); a subgraph not named is reached at its URL with ws:// or wss://.',
    )
    map_page: bool = Field(default=True, description="Serve the map page at /map.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed to call us (comma-separated): exact origins, patterns with `*` "
        "(https://*.example.com), or `*`. Credentials only for exact ones. Empty: same-origin only.",
    )
    cors_max_age: int = Field(default=600, description="Seconds a browser may cache a CORS preflight answer.")
    persisted_queries: bool = Field(
        default=True,
        description="Apollo's automatic persisted queries (APQ): hash-only requests, GET or POST.",
    )
    cache_bytes: int = Field(
        default=32 * 1024 * 1024,
        description="Bytes each per-document cache may hold (parsed documents, plans, APQ texts, authorization "
        "decisions; one of each per GraphQL endpoint): the text plus ~400 bytes per token.",
    )
    persisted_queries_cache_size: int = Field(
        default=10_000,
        description="Documents the APQ store keeps per process (least recently used go first).",
    )
    trusted_documents: Path | None = Field(
        default=None,
        description="An Apollo persisted-query manifest: when set, /graphql runs only its operations.",
    )

    # --- security (atlas4d.auth; docs/security.md) ---
    anonymous_role: str | None = Field(
        default=None,
        description="Role of requests without credentials. Unset: `admin` in development, none (401) in "
        "production (ATLAS4D_ENV=production). Empty: none.",
    )
    policy_file: Path | None = Field(default=None, description="YAML roles -> permissions and field rules.")
    jwt_secret: str | None = Field(default=None, description="Shared secret for HS256/384/512 tokens.")
    jwt_public_key: str | None = Field(default=None, description="PEM public key for RS/PS/ES/EdDSA tokens.")
    jwt_jwks_url: str | None = Field(default=None, description="JWKS URL of the token issuer's keys.")
    oidc_issuer: str | None = Field(
        default=None, description="OIDC issuer URL: discovery gives the JWKS URL and the expected `iss`."
    )
    jwt_issuer: str | None = Field(default=None, description="Required `iss` claim.")
    jwt_audience: str | None = Field(
        default=None, description="Required `aud` claim (one of, comma-separated)."
    )
    jwt_algorithms: str | None = Field(
        default=None,
        description="Accepted `alg`s, comma-separated. Unset: HS* with a secret, else RS/PS/ES/EdDSA.",
    )
    jwt_leeway_s: int = Field(default=30, description="Clock skew allowed on `exp`, `nbf` and `iat`.")
    jwks_cache_s: int = Field(default=300, description="How long fetched JWKS keys are reused.")
    jwt_roles_claim: str = Field(default="roles", description="Claim holding the roles (list or string).")
    jwt_tenant_claim: str = Field(default="tenant", description="Claim holding the tenant id.")
    tenancy: bool = Field(default=False, description="Row-level security per tenant (docs/security.md).")
    db_role: str = Field(
        default="atlas4d_app", description="Non-owner role the server's pool runs as when tenancy is on."
    )
    propagate_headers: str = Field(
        default="authorization",
        description="Request headers the gateway forwards to remote subgraphs, comma-separated.",
    )
    rate_limit_per_minute: int = Field(default=0, description="Requests per principal per minute; 0: off.")
    max_concurrent_per_principal: int = Field(
        default=0, description="Requests in flight per principal; 0: off."
    )
    redis_url: str | None = Field(default=None, description="Redis for shared rate limits; unset: in memory.")
    audit: bool = Field(default=True, description="Record writes and admin actions in atlas4d.audit_log.")
    audit_retention_days: int = Field(default=90, description="Audit rows older than this are pruned.")
    stream_queue_size: int = Field(
        default=1_000,
        description="Most messages waiting to be sent on one subscription connection (WebSocket or SSE); "
        "past it the slow-consumer policy applies.",
    )
    stream_slow_consumer: Literal["close", "coalesce"] = Field(
        default="close",
        description="What a full queue does: `close` the connection (code 4413), or `coalesce` queued events "
        "to the latest per subscription and entity.",
    )
    stream_init_timeout_s: float = Field(
        default=10.0, description="Seconds a WebSocket may wait before `connection_init` (then code 4408)."
    )
    stream_batch_rows: int = Field(
        default=5_000, description="Most rows read back and matched in one batch of change notices."
    )
    stream_broker: Literal["postgres", "redis", "nats"] = Field(
        default="postgres",
        description="How change notices reach subscribers: `postgres` (LISTEN in every process), or `redis` / "
        "`nats` (one process relays them onto the bus; docs/streaming.md).",
    )
    stream_broker_url: str | None = Field(
        default=None,
        description="The bus for `stream_broker` redis/nats (redis://127.0.0.1:6379, nats://127.0.0.1:4222); "
        "unset: ATLAS4D_REDIS_URL for redis, nats://127.0.0.1:4222 for nats.",
    )
    stream_subject: str = Field(
        default="atlas4d.changes", description="Redis channel or NATS subject carrying change notices."
    )
    max_subscriptions_per_connection: int = Field(
        default=100, description="Most active subscriptions on one WebSocket connection."
    )
    metrics: bool = Field(
        default=True, description="Serve Prometheus metrics at /metrics (docs/operations.md)."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL (e.g. http://otel-collector:4318): traces are exported "
        "there. OpenTelemetry's OTEL_EXPORTER_OTLP_ENDPOINT is honoured too; unset: no tracing.",
    )
    log_format: Literal["json", "console"] | None = Field(
        default=None,
        description="`json` (one object per line, with request and trace ids) or `console`. Unset: json "
        "when ATLAS4D_ENV=production, else console.",
    )
    log_level: str = Field(default="INFO", description="Least severe log level written.")
    max_subscriptions_per_principal: int = Field(
        default=1_000, description="Most active subscriptions of one authenticated principal in one process."
    )
    connect_mqtt_url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description="Broker of `atlas4d connect mqtt` (mqtt[s]://[user:pw@]host:port).",
    )
    connect_nats_url: str = Field(
        default="nats://127.0.0.1:4222", description="Server of `atlas4d connect nats`."
    )
    connect_kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="Bootstrap servers of `atlas4d connect kafka` (comma-separated).",
    )
    connect_batch_rows: int = Field(
        default=2_000, description="Most messages a connector stores in one transaction."
    )
    connect_batch_ms: int = Field(
        default=200, description="Longest a connector waits to fill a batch before it stores what it has."
    )
    connect_metrics_port: int | None = Field(
        default=None, description="Port of a connector's Prometheus /metrics on 127.0.0.1; unset: none."
    )

    partition_interval: Literal["day", "week", "month", "year"] = Field(
        default="month",
        description="Range of one partition of atlas4d.observations_core made by `atlas4d db partition`.",
    )
    partitions_ahead: int = Field(
        default=3, ge=0, description="Partitions kept ready past the current one by `atlas4d db maintain`."
    )
    retention: str | None = Field(
        default=None,
        description="ISO-8601 duration (P90D, P6M, P1Y): `atlas4d db maintain` drops observation partitions "
        "entirely older than this, with their tracks and ingest keys (docs/scaling.md §3). Unset: keep all.",
    )
    maintain_interval_s: int = Field(
        default=0,
        ge=0,
        description="`atlas4d serve` runs the partition maintenance every this many seconds (one replica "
        "at a time); 0: never (use the Helm CronJob or `atlas4d db maintain`).",
    )

    @field_validator("retention")
    @classmethod
    def _iso_duration(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from atlas4d.db.partition import Duration

        return Duration.parse(value).text

    @field_validator("cors_origins", "read_database_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _production_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("env"), str):
            data = {**data, "env": data["env"].strip().lower()}
        if isinstance(data, dict) and data.get("env") == "production":
            for name in PRODUCTION_OFF:
                data.setdefault(name, False)
        return data

    def production(self) -> bool:
        return self.env == "production"

    def embedded(self) -> bool:
        return self.database_url is None
