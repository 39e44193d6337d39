"""Locked endpoints: only the organization's people, with a Codecosts key, use them (issue 8).

Against a real uvicorn and the fake upstream: a caller without a valid `x-codecosts-key`
gets 401 in the provider's shape, reaches nothing upstream, writes nothing into the
organization and does not use up the endpoint's rate limit. The key is never forwarded
and every logged call remembers which key made it.
"""

import asyncio
import uuid

import anthropic
import httpx
import openai
import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from accounts.models import ApiKey, Organization
from accounts.selectors import api_key_cache_key, api_key_hash
from accounts.services import api_key_create, api_key_revoke
from proxy.lookups import KeyRef, key_for_digest
from proxy.services import proxy_endpoint_create, proxy_endpoint_delete
from tests.live import AsgiServer, fresh_slug, redis_url_for_tests, wait_until
from usage.models import Session, UsageLog

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROVIDER_KEY = "sk-ant-api03-provider-key-of-the-caller-7788"
MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def organization():
    return Organization.objects.create(name=f"Locked {uuid.uuid4().hex[:6]}")


@pytest.fixture
def locked(organization):
    """A locked endpoint as hosted mode creates it, with a tight rate limit."""
    endpoint = proxy_endpoint_create(
        organization=organization, name="Locked", slug=fresh_slug("l"), rate_limit_per_minute=2
    )
    assert endpoint.require_key is True
    return endpoint


@pytest.fixture
def developer_key(organization):
    api_key, raw = api_key_create(organization=organization, name="dev", scope=ApiKey.Scope.PROXY)
    return api_key, raw


def claude(stack, endpoint, key: str | None = None, **headers) -> anthropic.Anthropic:
    if key is not None:
        headers["x-codecosts-key"] = key
    return anthropic.Anthropic(
        api_key=PROVIDER_KEY,
        base_url=stack.base_url(endpoint),
        max_retries=0,
        default_headers=headers,
    )


def create(client: anthropic.Anthropic, **extra):
    return client.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=MESSAGES, **extra
    )


def refused_with_401(client: anthropic.Anthropic, message: str) -> None:
    with pytest.raises(anthropic.AuthenticationError) as raised:
        create(client)
    assert raised.value.status_code == 401
    assert raised.value.body["type"] == "error"
    assert raised.value.body["error"]["type"] == "authentication_error"
    assert message in raised.value.body["error"]["message"]


def test_a_call_without_a_key_gets_401_and_reaches_nothing(live_stack, locked):
    seen = len(live_stack.upstream.requests)
    refused_with_401(claude(live_stack, locked), "requires a Codecosts key")
    assert len(live_stack.upstream.requests) == seen


@pytest.mark.parametrize(
    "key",
    [
        "cc_" + "x" * 43,  # well formed, unknown
        "not-a-codecosts-key",
        "",
    ],
)
def test_an_unknown_or_malformed_key_gets_401(live_stack, locked, key):
    seen = len(live_stack.upstream.requests)
    refused_with_401(claude(live_stack, locked, key), "Invalid Codecosts key")
    assert len(live_stack.upstream.requests) == seen


def test_another_organizations_key_gets_401(live_stack, locked):
    _, raw = api_key_create(organization=Organization.objects.create(name="Elsewhere"))
    refused_with_401(claude(live_stack, locked, raw), "Invalid Codecosts key")


def test_the_organizations_key_passes_is_not_forwarded_and_is_remembered(
    live_stack, locked, developer_key
):
    api_key, raw = developer_key
    seen = len(live_stack.upstream.requests)
    response = create(claude(live_stack, locked, raw))
    assert response.parse().usage.input_tokens == 2095
    received = {
        name.lower(): value for name, value in live_stack.upstream.requests[seen].headers.items()
    }
    assert "x-codecosts-key" not in received
    # The caller's own provider credential goes through (this SDK sends it as a bearer).
    assert (received.get("x-api-key") or received["authorization"]).endswith(PROVIDER_KEY)
    log = live_stack.log(response.headers["x-codecosts-log-id"])
    assert (log.endpoint_id, log.api_key_id) == (locked.id, api_key.id)


def test_a_full_key_works_on_proxied_calls_too(live_stack, locked, organization):
    api_key, raw = api_key_create(organization=organization, name="ci")
    response = create(claude(live_stack, locked, raw))
    assert live_stack.log(response.headers["x-codecosts-log-id"]).api_key_id == api_key.id


def test_refused_calls_use_no_rate_limit_and_write_nothing(live_stack, locked, developer_key):
    _, raw = developer_key
    for _ in range(6):
        with pytest.raises(anthropic.AuthenticationError):
            create(claude(live_stack, locked, x_codecosts_session="Intruder's session"))
    for _ in range(3):
        with pytest.raises(anthropic.AuthenticationError):
            create(claude(live_stack, locked, "cc_" + "y" * 43))
    # The owner's two calls a minute are all still there.
    client = claude(live_stack, locked, raw)
    first, second = create(client), create(client)
    with pytest.raises(anthropic.RateLimitError):
        create(client)
    for response in (first, second):
        live_stack.log(response.headers["x-codecosts-log-id"])
    assert UsageLog.objects.filter(organization=locked.organization).count() == 2
    assert not Session.objects.filter(organization=locked.organization).exists()


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (set in CI)")
def test_a_revoked_key_stops_working_within_the_cache_time(live_stack, organization, developer_key):
    api_key, raw = developer_key
    endpoint = proxy_endpoint_create(
        organization=organization,
        name="Unlimited",
        slug=fresh_slug("u"),
        rate_limit_per_minute=None,
    )
    client = claude(live_stack, endpoint, raw)
    create(client)
    # Revoked as the server's own processes would: their shared cache loses the entry.
    servers_cache = {**settings.CACHES["default"], "LOCATION": redis_url_for_tests()}
    with override_settings(CACHES={"default": servers_cache}):
        api_key_revoke(api_key=api_key)

    def refused():
        try:
            create(client)
        except anthropic.AuthenticationError:
            return True
        return False

    wait_until(refused, timeout=settings.PROXY_ENDPOINT_CACHE_SECONDS + 5, interval=0.5)


def test_the_openai_sdk_sends_the_key_as_a_default_header(live_stack, locked, developer_key):
    api_key, raw = developer_key
    base = live_stack.base_url(locked) + "/openai/v1"
    without = openai.OpenAI(api_key="sk-openai-caller", base_url=base, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        without.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert raised.value.body["type"] == "invalid_request_error"
    assert "requires a Codecosts key" in raised.value.body["message"]

    client = openai.OpenAI(
        api_key="sk-openai-caller",
        base_url=base,
        max_retries=0,
        default_headers={"x-codecosts-key": raw},
    )
    response = client.chat.completions.with_raw_response.create(model="gpt-4.1", messages=MESSAGES)
    assert live_stack.log(response.headers["x-codecosts-log-id"]).api_key_id == api_key.id


def test_an_open_endpoint_takes_calls_without_a_key_but_not_with_a_wrong_one(
    live_stack, organization
):
    endpoint = proxy_endpoint_create(
        organization=organization, name="Open", slug=fresh_slug("o"), require_key=False
    )
    response = create(claude(live_stack, endpoint))
    assert live_stack.log(response.headers["x-codecosts-log-id"]).api_key_id is None
    refused_with_401(claude(live_stack, endpoint, "cc_" + "z" * 43), "Invalid Codecosts key")


def test_a_deleted_endpoint_answers_404_in_the_providers_shape(live_stack, locked, developer_key):
    _, raw = developer_key
    proxy_endpoint_delete(endpoint=locked)
    with pytest.raises(anthropic.NotFoundError) as raised:
        create(claude(live_stack, locked, raw))
    assert raised.value.body["error"]["type"] == "not_found_error"


def test_a_deleted_slug_claimed_by_another_organization_never_gets_the_old_clients_calls(
    live_stack, organization
):
    endpoint = proxy_endpoint_create(
        organization=organization, name="Old", slug=f"o-{uuid.uuid4().hex[:10]}"
    )
    proxy_endpoint_delete(endpoint=endpoint)
    thief = Organization.objects.create(name="Thief")
    with pytest.raises(Exception, match="slug already taken"):
        proxy_endpoint_create(organization=thief, name="Mine now", slug=endpoint.slug)
    # The old clients' calls find no endpoint: nothing lands in any organization.
    with pytest.raises(anthropic.NotFoundError):
        create(claude(live_stack, endpoint))
    assert not UsageLog.objects.filter(endpoint_slug=endpoint.slug).exists()


# --- Two web processes on one Redis ----------------------------------------------


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (set in CI)")
def test_a_flood_through_two_processes_leaves_the_owners_rate_limit_untouched(
    live_stack, locked, developer_key, tmp_path
):
    second = AsgiServer(live_stack.server.env, tmp_path / "second.log").start()
    try:
        urls = [live_stack.base_url(locked), f"{second.url}/proxy/{locked.slug}"]
        body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": MESSAGES}
        with httpx.Client(timeout=10) as client:
            statuses = [
                client.post(
                    f"{urls[i % 2]}/v1/messages", json=body, headers={"x-api-key": PROVIDER_KEY}
                ).status_code
                for i in range(60)
            ]
            assert statuses == [401] * 60
            _, raw = developer_key
            headers = {"x-api-key": PROVIDER_KEY, "x-codecosts-key": raw}
            owner = [
                client.post(f"{url}/v1/messages", json=body, headers=headers).status_code
                for url in urls
            ]
            assert owner == [200, 200]
            # The limit (2 a minute) is shared by both processes: the third call is over it.
            assert (
                client.post(f"{urls[0]}/v1/messages", json=body, headers=headers).status_code == 429
            )
        # Only the owner's two answered calls are logged; waited for, so that the worker
        # is not still writing them when the test's database is emptied.
        assert wait_until(lambda: UsageLog.objects.filter(endpoint_slug=locked.slug).count() == 2)
    finally:
        second.stop()
    assert UsageLog.objects.filter(endpoint_slug=locked.slug).count() == 2


# --- The hot-path key lookup ------------------------------------------------------


def test_revoking_a_key_drops_the_proxys_cached_lookup(
    settings, organization, django_capture_on_commit_callbacks
):
    settings.PROXY_ENDPOINT_CACHE_SECONDS = 0  # no process-local memory: the shared cache decides
    api_key, raw = api_key_create(organization=organization)
    digest = api_key_hash(raw)
    # An unnamed key's person is its prefix.
    person = f"{api_key.display_prefix}…"
    assert asyncio.run(key_for_digest(digest)) == KeyRef(str(api_key.id), str(organization.id), person)
    assert cache.get(api_key_cache_key(digest=digest)) is not None

    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=api_key)

    assert cache.get(api_key_cache_key(digest=digest)) is None
    assert asyncio.run(key_for_digest(digest)) is None
