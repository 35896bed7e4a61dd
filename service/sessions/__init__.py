"""Session stores: where workspaces live between requests."""

from .base import Session, SessionStore
from .memory_store import MemoryStore
from .redis_store import RedisStore

REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis-cluster://", "redis-sentinel://")


def make_store(settings) -> SessionStore:
    if settings.store == "memory":
        return MemoryStore(settings)
    if settings.store.startswith(REDIS_SCHEMES):
        return RedisStore(settings)
    raise ValueError(f"AUTOGRAD_STORE must be 'memory' or a redis://, rediss://, unix://, "
                     f"redis-cluster:// or redis-sentinel:// URL, got {settings.store!r}")


__all__ = ["Session", "SessionStore", "MemoryStore", "RedisStore", "make_store", "REDIS_SCHEMES"]
