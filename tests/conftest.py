"""Test-wide setup. Fixtures shared by every app's tests live here."""

import os

import pytest


def pytest_sessionstart(session):
    """In CI, refuse to run without PostgreSQL and Redis rather than skip what needs them."""
    if not os.environ.get("CODECOSTS_REQUIRE_SERVICES"):
        return
    from django.conf import settings
    from django.db import connection

    problems = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL does not point at PostgreSQL")
    else:
        try:
            connection.ensure_connection()
        except Exception as exc:  # noqa: BLE001 - report whatever the driver raised
            problems.append(f"PostgreSQL unreachable: {exc}")
        finally:
            connection.close()
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
