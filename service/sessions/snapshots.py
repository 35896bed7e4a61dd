"""Snapshots of a session's engine objects in Redis, beside its log (NOTE [bounded replay]
in replay.py): written every ``snapshot_every`` log entries by the replica that committed
them, loaded by a replica that is further behind than that, which then runs only the
entries after it.

``s:{id}:snap`` is a hash: ``index`` (the log length the snapshot covers) and ``doc`` (the
document of service/run/workspace_snapshot.py: JSON and raw bytes, never pickle). One per
session, replaced by a newer one, with the session's idle TTL, deleted with the session.
A workspace the snapshot cannot represent (``SnapshotRefused``) or a snapshot over
``snapshot_max_bytes`` is not written, and a document that does not load
(``SnapshotCorrupt``) is not used: in both cases a catch-up replays the log as it did
without snapshots. Each is logged and counted (``RedisStore.snapshots``).
"""

from __future__ import annotations

import logging

import redis

from ..run import workspace_snapshot
from ..run.workspace_snapshot import SnapshotCorrupt, SnapshotRefused

log = logging.getLogger("service")

# KEYS meta, log, snap. ARGV index, doc, ttl_ms: kept if the log is still that long and the
# snapshot is newer than the one kept
WRITE = "#!lua\n" + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[1]) then return 0 end
local kept = redis.call('HGET', KEYS[3], 'index')
if kept and tonumber(kept) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[3], 'index', ARGV[1], 'doc', ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
"""


def write(store, session) -> None:
    """After a commit: a snapshot of the session's workspace, when its log has grown by
    ``snapshot_every`` entries since the newest one known. A failure here leaves the
    committed call as it is (logged): the log still holds everything."""
    s = store.settings
    n = len(session.log)
    if not s.snapshot_every or n - session.snapshot_at < s.snapshot_every:
        return
    session.snapshot_at = n  # tried at n, kept or not: not tried again at every call
    sid = session.id
    try:
        if session.nbytes > s.snapshot_max_bytes:
            raise SnapshotRefused(f"{session.nbytes} bytes of tensors")
        doc = workspace_snapshot.dump(session.ws)
        if len(doc) > s.snapshot_max_bytes:
            raise SnapshotRefused(f"a document of {len(doc)} bytes")
    except SnapshotRefused as e:
        store.snapshots["refused"] += 1
        log.info("session %s: no snapshot at log entry %d (%s; snapshot_max_bytes %d): "
                 "a catch-up replays its log", sid, n, e, s.snapshot_max_bytes)
        return
    keys = [store.key(sid, p) for p in ("meta", "log", "snap")]
    try:
        if store.scripts["snapshot"](keys=keys, args=[n, doc, store._ttl_ms()]) == 1:
            store.snapshots["written"] += 1
    except redis.RedisError as e:  # (a snap key of another type included)
        log.warning("session %s: snapshot at log entry %d not written (%s)", sid, n, e)


def restore(store, session, length: int, snapped) -> int:
    """Load the newest snapshot into ``session`` when it is past what the replica holds and
    the replica is more than ``snapshot_every`` entries behind. Returns how many of the
    entries past ``session.synced`` it covers (0: none loaded, replay them all)."""
    if snapped is None:
        return 0
    try:
        if isinstance(snapped, Exception):  # (the pipeline's answer: a key of another type)
            raise snapped
        at = int(snapped)
    except (ValueError, redis.RedisError) as e:
        store.snapshots["corrupt"] += 1
        log.warning("session %s: its snapshot is not used (%s): the log is replayed",
                    session.id, e)
        return 0
    if 0 <= at <= length:  # the next one is due snapshot_every entries after it
        session.snapshot_at = max(session.snapshot_at, at)
    behind = length - session.synced
    if at <= session.synced or behind <= store.settings.snapshot_every:
        return 0
    sid = session.id
    try:
        if at > length:
            raise SnapshotCorrupt(f"it covers {at} log entries of {length}")
        index, doc = store.redis.hmget(store.key(sid, "snap"), "index", "doc")
        if index is None or int(index) != at or doc is None:
            return 0  # replaced meanwhile (not under this lock): replay
        ws = workspace_snapshot.load(doc)
    except (SnapshotCorrupt, ValueError, redis.ResponseError) as e:
        store.snapshots["corrupt"] += 1
        log.warning("session %s: its snapshot is not used (%s): the log is replayed", sid, e)
        return 0
    session.ws = ws
    store.snapshots["loaded"] += 1
    return at - session.synced
