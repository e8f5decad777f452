"""marketplace.cache: Django's Redis cache with one client per pool, and counters in
one round trip."""

import pytest
from django.core.cache import cache, caches

from marketplace import cache as marketplace_cache


@pytest.mark.redis
def test_the_redis_cache_keeps_one_client_per_pool():
    backend = caches["default"]
    assert isinstance(backend, marketplace_cache.RedisCache)
    first = backend._cache.get_client("a", write=True)
    assert backend._cache.get_client("b", write=True) is first
    cache.set("kept", {"x": 1})
    assert cache.get("kept") == {"x": 1}


@pytest.mark.redis
def test_counters_add_in_one_round_trip_and_expire_from_their_first_count():
    assert marketplace_cache.counters({"n": 1, "m": 3}, timeout=60) == {"n": 1, "m": 3}
    assert marketplace_cache.counters({"n": 2}, timeout=60) == {"n": 3}
    assert cache.get("n") == 3  # reads as a number
    client = caches["default"]._cache.get_client(write=True)
    key = cache.make_key("n")
    assert 55 <= client.ttl(key) <= 60
    client.expire(key, 5)
    marketplace_cache.counters({"n": 1}, timeout=60)  # a later count keeps the first expiry
    assert client.ttl(key) <= 5


def test_counters_on_the_local_memory_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert marketplace_cache.counters({"m": 1}, timeout=60) == {"m": 1}
    assert marketplace_cache.counters({"m": 2}, timeout=60) == {"m": 3}
