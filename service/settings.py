"""Service settings, read from the environment (prefix ``AUTOGRAD_``) by pydantic-settings.

Every limit exists so that no request, however large or malformed, can exhaust the
server: sizes are checked from the op table's shape rules before anything is allocated.
"""

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split(value):
    """AUTOGRAD_API_KEYS=a,b and AUTOGRAD_CORS_ORIGINS=https://x,https://y (or JSON lists)."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            return json.loads(value)
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOGRAD_", extra="ignore")

    max_body_bytes: int = Field(64 * 2**20, description="Largest request body accepted.")
    max_nodes: int = Field(10_000, description="Most nodes in one graph (a request's, or a "
                           "session's over all its calls).")
    max_tensor_elements: int = Field(10_000_000, description="Most elements in one tensor.")
    max_total_elements: int = Field(50_000_000,
                                    description="Most elements created by one request.")
    max_ndim: int = Field(32, description="Most dimensions of a tensor.")
    max_sessions: int = Field(1_000, description="Most sessions held at once (429 beyond).")
    max_session_bytes: int = Field(256 * 2**20,
                                   description="Most tensor bytes one session may hold.")
    max_store_bytes: int = Field(2 * 2**30,
                                 description="Most tensor bytes all sessions may hold (429).")
    session_ttl_seconds: float = Field(900.0, description="Idle time before a session expires.")
    compute_seconds: float = Field(30.0, description="Compute time allowed per request, "
                                   "checked between graph nodes.")
    body_timeout_seconds: float = Field(60.0, description="Time allowed to receive a request "
                                        "body once its headers are in (408 beyond): a "
                                        "client trickling bytes cannot hold a request open.")
    shutdown_seconds: float = Field(40.0, description="On SIGTERM a replica stops accepting "
                                    "connections and lets the requests in flight finish for "
                                    "up to this long (uvicorn's graceful-shutdown timeout): "
                                    "above compute_seconds, below the orchestrator's grace "
                                    "period (compose's stop_grace_period, Kubernetes' "
                                    "terminationGracePeriodSeconds).")
    worker_threads: int = Field(8, ge=1, description="Threads that compute requests (and "
                                "decode large bodies) at once; more wait their turn, their "
                                "compute_seconds starting when a thread takes them. Every "
                                "busy thread takes turns at the GIL with the event loop, "
                                "which answers the probes (anyio's default is 40).")
    probe_port: int | None = Field(None, ge=1, le=65535, description="Also answer /healthz "
                                   "and /readyz on this port, from a process of their own "
                                   "that no request's work can delay (NOTE [probes outside "
                                   "the GIL]); point the orchestrator's probes at it. "
                                   "Unset = the probes are the app's routes only.")
    probe_host: str = Field("0.0.0.0", description="Address the probe port listens on.")
    probe_stale_seconds: float = Field(15.0, gt=0, description="With probe_port: both probes "
                                       "answer 503 when the replica's event loop has not "
                                       "run for this long (a hung replica).")
    gc_freeze: bool = Field(True, description="Once serving starts, move what startup made "
                            "(modules, the app, its schemas) out of the cyclic GC's sight: its "
                            "full collections then scan only what requests make, not a ~15 ms "
                            "walk of the startup heap inside whichever request triggers one.")
    plan_cache_size: int = Field(4096, ge=0, description="Node plans remembered by their "
                                 "structure (op, argument types, tensor shapes and dtypes, "
                                 "constants): a graph sent again with new values skips "
                                 "overload resolution and the shape rules, never the limits "
                                 "(NOTE [node plans]); oldest dropped first, 0 = off.")
    replica_cache_sessions: int = Field(256, description="Redis store: most sessions whose "
                                        "live engine objects one replica keeps (least "
                                        "recently used dropped first, replayed when needed).")
    replica_cache_bytes: int = Field(512 * 2**20, description="Redis store: most tensor bytes "
                                     "of the sessions one replica keeps live.")
    max_session_calls: int = Field(10_000, description="Most calls one session may log "
                                   "(node lists, backward, grad, zero_grad, free, PUT; 413 "
                                   "beyond): bounds what a replica replays to catch up.")
    snapshot_every: int = Field(64, ge=0, description="Redis store: write a snapshot of a "
                                "session's engine objects once its log has grown by this many "
                                "entries since the last one, so a replica catches up by loading "
                                "it and replaying at most this many entries; 0 = never (a "
                                "catch-up replays the whole log).")
    snapshot_max_bytes: int = Field(256 * 2**20, ge=0, description="Redis store: largest "
                                    "snapshot written (a larger one is not kept, and the "
                                    "session is caught up from its log).")
    idempotency_keys: int = Field(256, description="Answers kept per session for "
                                  "Idempotency-Key retries (oldest dropped first).")
    key_max_sessions: int = Field(0, description="Most sessions one API key may hold "
                                  "(429 beyond); 0 = only max_sessions.")
    key_max_bytes: int = Field(0, description="Most tensor bytes the sessions of one API key "
                               "may hold (429 beyond); 0 = only max_store_bytes.")
    key_requests_per_second: float = Field(0.0, description="Requests a second per API key "
                                           "(429 with Retry-After beyond), across replicas with the Redis store; "
                                           "0 = unlimited.")
    key_burst: int = Field(0, description="Requests one key may make at once above its rate; "
                           "0 = twice the rate.")
    store: str = Field("memory", description="Session store: 'memory' (one process) or "
                       "'redis://host:port/db' (shared by workers), "
                       "'redis-cluster://host:port[,host:port...]' or "
                       "'redis-sentinel://host:port[,host:port...]/MASTER_NAME/DB' "
                       "(docs/sessions-in-redis.md).")
    store_wait_replicas: int = Field(-1, description="Replicas of the Redis primary that "
                                     "must hold a call's log entries before it is answered "
                                     "(Redis WAIT; a 503 if not within 2 s); -1 = 1 with "
                                     "redis-sentinel://, else 0.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Accepted API keys (header X-API-Key or "
        "Authorization: Bearer); empty = no authentication.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS; empty = CORS off.")

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _lists(cls, value):
        return _split(value)
