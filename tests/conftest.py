"""Test-wide setup. Fixtures shared by every app's tests live here."""

import os
import uuid

import pytest

# fake_upstream, live_stack, proxy_endpoint and start_stack: real processes for integration tests.
pytest_plugins = ["tests.live_fixtures"]


def pytest_sessionstart(session):
    """In CI, refuse to run without PostgreSQL and Redis rather than skip what needs them."""
    if not os.environ.get("CODECOSTS_REQUIRE_SERVICES"):
        return
    from django.conf import settings

    problems = []
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL does not point at PostgreSQL")
    else:
        import psycopg

        try:
            # pytest-django blocks the ORM here, so ask the server directly.
            psycopg.connect(
                host=database["HOST"] or "127.0.0.1",
                port=database["PORT"] or 5432,
                user=database["USER"],
                password=database["PASSWORD"] or None,
                dbname="postgres",
                connect_timeout=5,
            ).close()
        except psycopg.Error as exc:
            problems.append(f"PostgreSQL unreachable: {exc}")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"Redis unreachable: {exc}")
    if problems:
        pytest.exit("CODECOSTS_REQUIRE_SERVICES is set but: " + "; ".join(problems), returncode=3)


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counters():
    """Start every test with no rate-limit or throttle counted (they live in the cache).

    Local memory is cleared; on Redis only the counters are deleted, never the database
    (it may hold a running instance's broker queue).
    """
    from django.conf import settings
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    cache = caches[settings.RATELIMIT_USE_CACHE]
    if isinstance(cache, LocMemCache):
        cache.clear()
        return
    prefix = getattr(settings, "RATELIMIT_CACHE_PREFIX", "rl:")
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=cache.make_key(prefix) + "*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def one_rate_limit_window(monkeypatch):
    """Keep every django-ratelimit counter in one fixed window for the whole test.

    Counters reset when a one-minute window ends; a test counting 40 attempts must not
    straddle that moment.
    """
    import time

    from django_ratelimit import core

    ends = {}
    monkeypatch.setattr(
        core, "_get_window", lambda value, period: ends.setdefault(period, int(time.time()) + period)
    )


# --- The shared fixture world ------------------------------------------------------
#
#   org ("Acme")          owner (role owner), member (role member); owner_key
#   other_org ("Globex")  outsider (role owner); outsider_key
#
# owner_key / outsider_key are raw API key strings (what a user pastes into a script).
# api_client / outsider_client are DRF APIClients sending `Authorization: Bearer <key>`
# for Acme / Globex, with JSON as the default request format:
#     api_client.post("/api/proxy-endpoints", {"name": "x"})
# owner_session_client is logged in as `owner` through the browser session instead.
# Every API test can therefore check that Globex never sees Acme's objects.


@pytest.fixture
def org(db):
    """The organization "Acme"."""
    from accounts.services import organization_create

    return organization_create(name="Acme")


@pytest.fixture
def endpoint(org):
    """Acme's endpoint "Acme app" at /proxy/acme-app, made as the API makes one."""
    from proxy.services import proxy_endpoint_create

    return proxy_endpoint_create(organization=org, name="Acme app", slug="acme-app")


@pytest.fixture
def other_org(db):
    """The organization "Globex", which must never see Acme's data."""
    from accounts.services import organization_create

    return organization_create(name="Globex")


def _user(username: str):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username=username, email=f"{username}@example.com")
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def owner(org):
    """Acme's owner."""
    from accounts.models import Membership
    from accounts.services import membership_create

    user = _user("owner")
    membership_create(organization=org, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def member(org):
    """A plain member of Acme."""
    from accounts.services import membership_create

    user = _user("member")
    membership_create(organization=org, user=user)
    return user


@pytest.fixture
def outsider(other_org):
    """Globex's owner: a user in another organization."""
    from accounts.models import Membership
    from accounts.services import membership_create

    user = _user("outsider")
    membership_create(organization=other_org, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def owner_key(org, owner) -> str:
    """A raw API key for Acme, created by its owner."""
    from accounts.services import api_key_create

    _, raw_key = api_key_create(organization=org, name="owner's key", created_by=owner)
    return raw_key


@pytest.fixture
def outsider_key(other_org, outsider) -> str:
    """A raw API key for Globex."""
    from accounts.services import api_key_create

    _, raw_key = api_key_create(organization=other_org, name="outsider's key", created_by=outsider)
    return raw_key


def _api_client(raw_key: str | None = None):
    from rest_framework.test import APIClient

    client = APIClient()
    client.default_format = "json"
    if raw_key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def anonymous_client(db):
    """An APIClient without credentials (JSON by default)."""
    return _api_client()


@pytest.fixture
def api_client(owner_key):
    """An APIClient authenticated as Acme with `owner_key` (JSON by default)."""
    return _api_client(owner_key)


@pytest.fixture
def outsider_client(outsider_key):
    """An APIClient authenticated as Globex with `outsider_key` (JSON by default)."""
    return _api_client(outsider_key)


def _page_client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_page(owner):
    """A Client signed in as Acme's owner, for pages (the API clients are above)."""
    return _page_client(owner)


@pytest.fixture
def member_page(member):
    """A Client signed in as Acme's member, for pages."""
    return _page_client(member)


@pytest.fixture
def outsider_page(outsider):
    """A Client signed in as Globex's owner, for pages: never Acme's."""
    return _page_client(outsider)


@pytest.fixture
def owner_session_client(owner):
    """An APIClient logged in as Acme's owner through the session, no API key."""
    client = _api_client()
    client.force_login(owner)
    return client


@pytest.fixture
def dead_letters(settings, tmp_path, monkeypatch):
    """A dead-letter store of the test's own: a spool directory, and in Redis its own key."""
    import redis

    from usage import dead_letters as store

    settings.USAGE_SPOOL_DIR = tmp_path / "spool"
    key = f"codecosts:test:dead-letters:{uuid.uuid4().hex}"
    monkeypatch.setattr(store, "DEAD_LETTER_KEY", key)
    yield store
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(key)
