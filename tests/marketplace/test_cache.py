"""marketplace.cache: Django's Redis cache with one client per pool, and a counter in
one round trip."""

import pytest
from django.core.cache import cache, caches

from marketplace import cache as marketplace_cache

pytestmark = pytest.mark.redis


def test_the_redis_cache_keeps_one_client_per_pool():
    backend = caches["default"]
    assert isinstance(backend, marketplace_cache.RedisCache)
    first = backend._cache.get_client("a", write=True)
    assert backend._cache.get_client("b", write=True) is first
    cache.set("kept", {"x": 1})
    assert cache.get("kept") == {"x": 1}


def test_a_count_starts_at_one_expires_from_its_first_count_and_reads_as_a_number():
    assert [marketplace_cache.count("n", timeout=60) for _ in range(3)] == [1, 2, 3]
    assert cache.get("n") == 3
    client = caches["default"]._cache.get_client(write=True)
    key = cache.make_key("n")
    assert 55 <= client.ttl(key) <= 60
    client.expire(key, 5)
    marketplace_cache.count("n", timeout=60)  # a later count keeps the first expiry
    assert client.ttl(key) <= 5


def test_a_count_on_the_local_memory_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert [marketplace_cache.count("m", timeout=60) for _ in range(2)] == [1, 2]
