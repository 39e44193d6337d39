"""GET /health"""

from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import override_settings


def test_it_reports_ok_with_version_database_queue_and_session(client, db):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": settings.VERSION,
        "database": "ok",
        "queue": "ok" if settings.REDIS_URL else "in-process",
        "active_session": None,
    }
    assert "no-cache" in response["Cache-Control"]


def test_it_needs_no_credentials(client, db):
    assert client.get("/health").status_code == 200


@override_settings(REDIS_URL="")
def test_without_redis_the_queue_is_in_process(client, db):
    assert client.get("/health").json()["queue"] == "in-process"


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_an_unreachable_broker_is_reported_without_failing_health(client, db):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json()["queue"] == "unreachable"
    assert response.json()["status"] == "ok"


def test_it_answers_503_when_the_database_is_unreachable(client, db):
    with mock.patch.object(
        connection, "cursor", side_effect=OperationalError("connection refused")
    ):
        response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["database"] == "unreachable"
    assert response.json()["version"] == settings.VERSION


@pytest.mark.parametrize("method", ["post", "delete"])
def test_it_only_answers_reads(client, db, method):
    assert getattr(client, method)("/health").status_code == 405
