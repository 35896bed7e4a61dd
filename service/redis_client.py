"""A Redis client for an AUTOGRAD_STORE URL: used by the Redis store, the Redis rate limiter
and the probe process (which must start without the engine: only redis-py here)."""

from __future__ import annotations

from urllib.parse import unquote

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel


def connect(url: str, **options) -> redis.Redis | RedisCluster:
    """A client for AUTOGRAD_STORE: redis://, rediss://, unix:// (one Redis),
    redis-cluster://[user:password@]host:port[,host:port...] (a Redis Cluster: the nodes
    to start from) or redis-sentinel://[user:password@]host:port[,host:port...]/MASTER/DB
    (the sentinels, the master's name, the database): a client of the current primary,
    found anew after a failover (MasterNotFoundError, a 503, while there is none)."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("redis-cluster", "redis-sentinel"):
        return redis.Redis.from_url(url, **options)
    auth, _, rest = rest.rpartition("@")
    user, _, password = auth.partition(":")
    if auth:
        options.update(username=unquote(user) or None, password=unquote(password) or None)
    hosts, _, path = rest.partition("/")
    nodes = []
    for host in hosts.split(","):
        name, _, port = host.strip().rpartition(":")
        if not name or not port.isdigit():
            raise ValueError(f"AUTOGRAD_STORE: {host!r} is not host:port in {scheme}://")
        nodes.append((name, int(port)))
    if scheme == "redis-cluster":
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes], **options)
    parts = path.split("/")
    if len(parts) != 2 or not parts[0] or not parts[1].isdigit():
        raise ValueError("AUTOGRAD_STORE=redis-sentinel://host:port[,host:port...]/MASTER/DB "
                         f"expected, got a path {path!r}")
    sentinel = Sentinel(nodes, sentinel_kwargs={"socket_timeout": 0.5,
                                                "socket_connect_timeout": 0.5})
    return sentinel.master_for(parts[0], db=int(parts[1]), **options)


def answers(client) -> bool:
    """Does Redis answer a PING (the store's readiness, the app's and the probe process's)?"""
    try:
        return bool(client.ping())
    except Exception:
        return False
