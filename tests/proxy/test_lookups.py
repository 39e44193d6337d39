"""The hot path's lookups (proxy/lookups.py): held in process memory for
PROXY_ENDPOINT_CACHE_SECONDS, and read again in the background during their last fifth,
so that no call in steady traffic waits for the database."""

import asyncio
import uuid

import pytest

from proxy import lookups
from proxy.services import proxy_endpoint_create, proxy_endpoint_update


class Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, settings):
    settings.PROXY_ENDPOINT_CACHE_SECONDS = 5
    clock = Clock()
    monkeypatch.setattr(lookups, "time", clock)
    lookups.lookups_clear()
    yield clock
    lookups.lookups_clear()


@pytest.fixture
def endpoint(transactional_db, org):
    # A fresh slug: no process or shared cache holds a lookup of it.
    return proxy_endpoint_create(organization=org, name="Looked up", slug=f"look-{uuid.uuid4().hex[:10]}")


def reads(monkeypatch) -> list[str]:
    """The slugs read from the shared cache or the database, in order."""
    seen = []
    load = lookups._endpoints.load

    def counted(slug):
        seen.append(slug)
        return load(slug)

    monkeypatch.setattr(lookups._endpoints, "load", counted)
    monkeypatch.setattr(lookups._endpoints, "load_async", lookups.sync_to_async(counted, thread_sensitive=False))
    return seen


def test_a_lookup_is_read_once_then_served_from_memory_until_its_last_fifth(clock, endpoint, monkeypatch):
    seen = reads(monkeypatch)

    async def run():
        first = await lookups.endpoint_for_slug(endpoint.slug)
        clock.now += 3.9  # 1.1 s left: more than a fifth
        again = await lookups.endpoint_for_slug(endpoint.slug)
        return first, again, set(lookups._endpoints.refreshing)

    first, again, refreshing = asyncio.run(run())

    assert first == again and first.slug == endpoint.slug
    assert seen == [endpoint.slug] and refreshing == set()


def test_in_its_last_fifth_a_lookup_is_served_at_once_and_read_again_in_the_background(clock, endpoint, monkeypatch):
    seen = reads(monkeypatch)
    asyncio.run(lookups.endpoint_for_slug(endpoint.slug))
    proxy_endpoint_update(endpoint=endpoint, store_bodies="metadata_only")

    async def run():
        clock.now += 4.5
        served = await lookups.endpoint_for_slug(endpoint.slug)  # does not wait for the read
        assert len(lookups._endpoints.refreshing) == 1
        await asyncio.gather(*lookups._endpoints.refreshing)
        # Past the first read's expiry (1005), not yet in the second's last fifth (1008.5):
        # at 1009.0 a third read would start in the background and race the loop's end.
        clock.now += 3.0
        after = await lookups.endpoint_for_slug(endpoint.slug)
        return served, after, set(lookups._endpoints.refreshing)

    served, after, refreshing = asyncio.run(run())

    assert served.store_bodies == "full"  # what was held, while it was read again
    assert after.store_bodies == "metadata_only"
    assert seen == [endpoint.slug, endpoint.slug] and refreshing == set()
