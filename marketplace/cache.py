"""Django's Redis cache, holding one redis-py client per connection pool.

Django's RedisCacheClient builds a new redis.Redis object for every cache call, and
redis-py 8 fills a table of about two hundred response callbacks in each one: a third
of a millisecond of CPU per call, more than the round trip. A redis.Redis object is
safe to share between threads (each command takes a connection from the pool), so one
per pool is enough."""

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            self._clients[index] = client
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient

    def counters(self, amounts: dict[str, int], *, timeout: int) -> dict[str, int]:
        """Add to counters that each live `timeout` seconds from their first count, and
        return their totals: one round trip (INCRBY, then EXPIRE NX, per key, in one
        pipeline)."""
        keys = {name: self.make_and_validate_key(name) for name in amounts}
        pipeline = self._cache.get_client(write=True).pipeline(transaction=False)
        for name, amount in amounts.items():
            pipeline.incrby(keys[name], amount)
            pipeline.expire(keys[name], timeout, nx=True)
        results = pipeline.execute()
        return {name: results[2 * i] for i, name in enumerate(amounts)}


def counters(amounts: dict[str, int], *, timeout: int) -> dict[str, int]:
    """Count on the default cache (see RedisCache.counters); other backends (the
    local memory cache of a single-process setup) take calls per key for the same."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend.counters(amounts, timeout=timeout)
    totals = {}
    for name, amount in amounts.items():
        backend.add(name, 0, timeout=timeout)
        totals[name] = backend.incr(name, amount)
    return totals
