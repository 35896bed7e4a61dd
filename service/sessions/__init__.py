"""Session stores: where workspaces live between requests."""

from .base import Session, SessionStore
from .memory import MemoryStore


def make_store(settings) -> SessionStore:
    if settings.store == "memory":
        return MemoryStore(settings)
    if settings.store.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore
        return RedisStore(settings)
    raise ValueError(f"AUTOGRAD_STORE must be 'memory' or a redis:// URL, got "
                     f"{settings.store!r}")


__all__ = ["Session", "SessionStore", "MemoryStore", "make_store"]
