"""What a ``REDIS_URL`` names — one server, a Sentinel-managed primary, or a Redis
Cluster — and the sync and asyncio clients for it.

Accepted forms (``s`` after ``redis`` means TLS):

* ``redis://[[user]:password@]host:port[/db]``, ``rediss://…``, ``unix:///path.sock`` —
  one server (or a managed primary endpoint whose replicas the provider fails over);
* ``redis+sentinel://[[user]:password@]host:26379[,host2:26379…]/<service>[/db]``
  (query ``?sentinel_password=…`` if the Sentinels need one) — the primary Sentinel
  elects for ``<service>``, followed across failovers;
* ``redis+cluster://[[user]:password@]host:port[,host2:port…]`` — a Redis Cluster,
  any node(s) to start from; keys are grouped by hash tags (see
  :class:`allocator.config.Keys`) so every multi-key script and transaction stays in
  one slot.

Anything else raises ``ValueError`` saying what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SINGLE, SENTINEL, CLUSTER = "single", "sentinel", "cluster"
_SCHEMES = {"redis": SINGLE, "rediss": SINGLE, "unix": SINGLE,
            "redis+sentinel": SENTINEL, "rediss+sentinel": SENTINEL,
            "redis+cluster": CLUSTER, "rediss+cluster": CLUSTER}


@dataclass(frozen=True)
class RedisTarget:
    """A parsed ``REDIS_URL``."""

    kind: str
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False
    options: dict[str, str] = field(default_factory=dict)

    def auth(self) -> dict[str, Any]:
        """Connection keyword arguments for the data nodes."""
        out: dict[str, Any] = {}
        if self.username:
            out["username"] = self.username
        if self.password:
            out["password"] = self.password
        if self.ssl:
            out["ssl"] = True
        return out


def parse_redis_url(url: str) -> RedisTarget:
    """Parse ``url`` (see the module doc); ``ValueError`` names what is wrong."""
    if not url:
        raise ValueError("REDIS_URL is empty (leave it unset to embed Redis)")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    kind = _SCHEMES.get(scheme)
    if kind is None:
        raise ValueError(f"REDIS_URL {redact(url)!r}: unknown scheme {scheme!r}; expected "
                         "redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://")
    if kind == SINGLE:
        return RedisTarget(SINGLE, url)
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, _, hosts = netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, _, pw = userinfo.partition(":")
        username, password = unquote(user) or None, unquote(pw) or None
    nodes = tuple(_host_port(h, url, 26379 if kind == SENTINEL else 6379)
                  for h in hosts.split(",") if h)
    if not nodes:
        raise ValueError(f"REDIS_URL {redact(url)!r}: no host given")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    path = [p for p in parts.path.split("/") if p]
    service, db = "", 0
    if kind == SENTINEL:
        if not path:
            raise ValueError(f"REDIS_URL {redact(url)!r}: name the Sentinel service, e.g. "
                             "redis+sentinel://h1:26379,h2:26379/mymaster/0")
        service = unquote(path[0])
        db = _db(path[1:], url)
    elif path:
        raise ValueError(f"REDIS_URL {redact(url)!r}: a Redis Cluster has only database 0; "
                         "drop the path")
    return RedisTarget(kind, url, nodes, service, db, username, password,
                       query.pop("sentinel_password", None), scheme.startswith("rediss"), query)


def _host_port(item: str, url: str, default_port: int) -> tuple[str, int]:
    host, sep, port = item.rpartition(":")
    if not sep:
        return item, default_port
    if not port.isdigit() or not host:
        raise ValueError(f"REDIS_URL {redact(url)!r}: {item!r} is not host:port")
    return host.strip("[]"), int(port)


def _db(rest: list[str], url: str) -> int:
    if not rest:
        return 0
    if len(rest) > 1 or not rest[0].isdigit():
        raise ValueError(f"REDIS_URL {redact(url)!r}: expected /<service>[/<db number>]")
    return int(rest[0])


def redact(url: str) -> str:
    """``url`` with its password masked, for error messages and logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    userinfo, _, hosts = rest.rpartition("@")
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{hosts}" if userinfo else url


def client_for(target: RedisTarget, common: dict[str, Any], max_connections: int,
               use_asyncio: bool = False) -> Any:
    """A Sentinel-managed ``Redis`` or a ``RedisCluster`` for ``target`` (redis-py's
    asyncio classes with ``use_asyncio``)."""
    if use_asyncio:
        from redis.asyncio.cluster import ClusterNode, RedisCluster
        from redis.asyncio.sentinel import Sentinel
    else:
        from redis.cluster import ClusterNode, RedisCluster  # type: ignore[assignment]
        from redis.sentinel import Sentinel  # type: ignore[assignment]
    if target.kind == CLUSTER:
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in target.nodes],
                            max_connections=max_connections, **target.auth(), **common)
    sentinel = Sentinel(list(target.nodes), sentinel_kwargs=_sentinel_kwargs(target, common),
                        **common)
    return sentinel.master_for(target.service, db=target.db, **target.auth())


def _sentinel_kwargs(target: RedisTarget, common: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in common.items() if k in ("socket_timeout", "socket_connect_timeout")}
    if target.sentinel_password:
        out["password"] = target.sentinel_password
    if target.ssl:
        out["ssl"] = True
    return out
