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

    def count(self, key: str, *, timeout: int, version=None) -> int:
        """Add one to a counter that lives `timeout` seconds from its first count, and
        return it: one round trip (INCR, then EXPIRE NX in the same pipeline)."""
        key = self.make_and_validate_key(key, version=version)
        pipeline = self._cache.get_client(key, write=True).pipeline(transaction=False)
        pipeline.incr(key)
        pipeline.expire(key, timeout, nx=True)
        return pipeline.execute()[0]


def count(key: str, *, timeout: int) -> int:
    """Count on the default cache (see RedisCache.count); other backends (the local
    memory cache of a single-process setup) take two calls for the same."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend.count(key, timeout=timeout)
    backend.add(key, 0, timeout=timeout)
    return backend.incr(key)
