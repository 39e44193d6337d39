"""codecosts.api: the JSON error shape everywhere under /api/, and the paginator's rules."""

import json
import logging

from django.test import Client, override_settings
from django.urls import path

from codecosts import urls as project_urls


def _boom(request):
    raise RuntimeError("secret internals")


urlpatterns = project_urls.urlpatterns + [
    path("api/boom", _boom),
    path("page/boom", _boom),
]
handler404 = project_urls.handler404
handler500 = project_urls.handler500


def test_an_unknown_api_path_is_a_json_404(api_client):
    response = api_client.get("/api/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"type": "not_found_error", "message": "Not found.", "code": "not_found"}
    }


def test_an_unknown_page_is_not_json(client, db):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


@override_settings(ROOT_URLCONF=__name__)
def test_an_unexpected_error_under_api_is_a_json_500_without_a_trace(db):
    response = Client(raise_request_exception=False).get("/api/boom")

    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "type": "api_error",
            "message": "Internal server error.",
            "code": "internal_error",
        }
    }
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


@override_settings(ROOT_URLCONF=__name__)
def test_an_unexpected_error_on_a_page_stays_html(db):
    response = Client(raise_request_exception=False).get("/page/boom")

    assert response.status_code == 500
    assert not response["Content-Type"].startswith("application/json")


def test_a_validation_error_keeps_each_fields_messages(api_client):
    response = api_client.post("/api/proxy-endpoints", {"rate_limit_per_minute": "x"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": (
            "name: This field is required. rate_limit_per_minute: A valid integer is required."
        ),
        "code": "invalid",
        "fields": {
            "name": ["This field is required."],
            "rate_limit_per_minute": ["A valid integer is required."],
        },
    }


def test_nested_validation_errors_are_flattened_with_dots():
    from rest_framework.exceptions import ValidationError

    from codecosts.api import exception_handler

    response = exception_handler(
        ValidationError({"items": [{"name": ["bad"]}, {}], "non_field_errors": ["whole thing"]}),
        {},
    )

    assert response.status_code == 400
    assert response.data["error"]["fields"] == {"items.0.name": ["bad"]}
    assert response.data["error"]["message"] == "whole thing. items.0.name: bad."


def test_a_django_validation_error_from_a_service_becomes_a_400():
    from django.core.exceptions import ValidationError

    from codecosts.api import exception_handler

    response = exception_handler(
        ValidationError({"slug": ValidationError("slug already taken", code="slug_taken")}), {}
    )

    assert response.status_code == 400
    assert response.data["error"] == {
        "type": "invalid_request_error",
        "message": "slug already taken.",
        "code": "slug_taken",
        "fields": {"slug": ["slug already taken"]},
    }


def test_an_unhandled_exception_is_left_to_djangos_500_handler():
    from codecosts.api import exception_handler

    assert exception_handler(RuntimeError("bug"), {}) is None


def test_the_paginator_orders_by_its_own_field_and_direction():
    from codecosts.api import CursorPagination

    class NewestFirst(CursorPagination):
        cursor_field = "started_at"
        descending = True

    assert CursorPagination().ordering == ("created_at", "pk")
    assert NewestFirst().ordering == ("-started_at", "-pk")


def _pages(paginator_class, queryset, limit):
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    seen, cursor = [], None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        paginator = paginator_class()
        seen += paginator.paginate_queryset(queryset, Request(APIRequestFactory().get("/", params)))
        if not paginator.has_more:
            return seen
        cursor = paginator.next_cursor


def test_a_descending_paginator_walks_newest_first_through_ties(org):
    from datetime import UTC, datetime, timedelta

    from codecosts.api import CursorPagination
    from proxy.models import ProxyEndpoint

    class NewestFirst(CursorPagination):
        descending = True

    endpoints = ProxyEndpoint.objects.bulk_create(
        ProxyEndpoint(organization=org, name=str(i), slug=f"e{i}") for i in range(23)
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, endpoint in enumerate(endpoints):  # groups of three share a timestamp
        ProxyEndpoint.objects.filter(pk=endpoint.pk).update(
            created_at=start + timedelta(seconds=i // 3)
        )
    queryset = ProxyEndpoint.objects.all()

    walked = _pages(NewestFirst, queryset, 4)

    assert [e.pk for e in walked] == list(
        queryset.order_by("-created_at", "-id").values_list("pk", flat=True)
    )
    assert walked[0].created_at == start + timedelta(seconds=7)


def _no_traceback_logged(caplog) -> None:
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
    assert "Traceback" not in caplog.text


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_upload_limit_is_a_json_413_without_a_traceback(api_client, caplog):
    body = json.dumps({"name": "x" * 5000})

    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="django.request"):
        response = api_client.post("/api/proxy-endpoints", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "type": "request_too_large",
            "message": "The request body is larger than the 1,000 bytes accepted.",
            "code": "request_too_large",
        }
    }
    _no_traceback_logged(caplog)
    # Logged once, as a line: "Request Entity Too Large: /api/proxy-endpoints".
    assert [r.status_code for r in caplog.records if hasattr(r, "status_code")] == [413]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_within_the_limit_still_works(api_client):
    response = api_client.post("/api/proxy-endpoints", {"name": "x" * 50})

    assert response.status_code == 201
