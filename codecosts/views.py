import logging
from datetime import UTC

import redis
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import ApiKeyAuthentication
from accounts.scoping import organization_for_request
from codecosts.api import error_response, request_too_large_message
from proxy import errors as proxy_errors
from proxy.models import LOCAL_SLUG, ProxyEndpoint
from usage.dead_letters import dead_letter_count
from usage.money import cents
from usage.selectors.sessions import session_current
from usage.spool import spooled_bytes

logger = logging.getLogger(__name__)

QUEUE_PING_TIMEOUT_SECONDS = 1.0


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("health: database unreachable", exc_info=True)
        return "unreachable"
    return "ok"


def _queue_state() -> str:
    if not settings.REDIS_URL:
        return "in-process"
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=QUEUE_PING_TIMEOUT_SECONDS,
        socket_timeout=QUEUE_PING_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except (redis.RedisError, OSError):
        logger.warning("health: queue broker unreachable", exc_info=True)
        return "unreachable"
    finally:
        client.close()
    return "ok"


def _usage_pipeline_state() -> dict:
    """What waits in this machine's spool, and how many records are dead letters."""
    try:
        dead = dead_letter_count()
    except (redis.RedisError, OSError):
        logger.warning("health: could not count dead letters", exc_info=True)
        dead = None
    return {"spooled_bytes": spooled_bytes(settings.USAGE_SPOOL_DIR), "dead_letters": dead}


def _caller_organization(request):
    """The organization of a valid bearer key or a signed-in user, else None.

    /health needs no credentials, so a missing, malformed or revoked key is not an error
    here: the caller is simply anonymous.
    """
    try:
        authenticated = ApiKeyAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    if authenticated is not None:
        return authenticated[0].organization
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return organization_for_request(request)
    return None


def _active_session(request) -> dict | None:
    """The manual session calls join now: the caller's organization's, else local mode's.

    Anonymous callers of a hosted instance get null: /health is public and must never
    show a tenant's session. In local mode the `local` endpoint's session is the one
    its calls join (its own, else the organization-wide one).
    """
    try:
        return _active_session_of(_caller_organization(request))
    except DatabaseError:
        logger.warning("health: could not read the active session", exc_info=True)
        return None


def _active_session_of(organization) -> dict | None:
    local = None
    if settings.LOCAL_MODE:
        local = ProxyEndpoint.objects.select_related("organization").filter(slug=LOCAL_SLUG).first()
        if organization is None and local is not None:
            organization = local.organization
    if organization is None:
        return None
    endpoint = local if local is not None and local.organization_id == organization.pk else None
    session = session_current(organization=organization, endpoint=endpoint)
    if session is None:
        return None
    return {
        "id": str(session.id),
        "name": session.name,
        "started_at": session.started_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "calls": session.calls,
        "cost_cents": cents(session.cost_cents),
    }


@never_cache
@require_safe
def health(request):
    """Report whether this process can serve: 200 while the database answers, else 503.

    A broker that is down does not make the service unhealthy: the proxy keeps usage
    records and stores them later, so `queue` is reported but does not change `status`.
    """
    database = _database_state()
    healthy = database == "ok"
    return JsonResponse(
        {
            "status": "ok" if healthy else "error",
            "version": settings.VERSION,
            "database": database,
            "queue": _queue_state(),
            "usage_pipeline": _usage_pipeline_state(),
            "active_session": _active_session(request) if healthy else None,
        },
        status=200 if healthy else 503,
    )


def is_api(request) -> bool:
    return request.path_info.startswith("/api/")


def request_too_large(request):
    """413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE: JSON under /api/, else a page."""
    if is_api(request):
        return error_response(413, request_too_large_message(), code="request_too_large")
    return render(request, "413.html", {"message": request_too_large_message()}, status=413)


def _proxied(request, status: int, message: str):
    """An answer under a proxy route, in the provider's error shape (DESIGN §3)."""
    return proxy_errors.error_response(proxy_errors.provider_for_path(request.path), status, message)


def handler400(request, exception=None):
    if proxy_errors.is_proxy_path(request.path):
        return _proxied(request, 400, "Bad request.")
    # Django answers every SuspiciousOperation with 400; a body too big is a 413.
    if isinstance(exception, RequestDataTooBig):
        return request_too_large(request)
    if is_api(request):
        return error_response(400, "Bad request.", code="bad_request")
    return defaults.bad_request(request, exception)


def handler403(request, exception=None):
    if proxy_errors.is_proxy_path(request.path):
        return _proxied(request, 403, "Forbidden.")
    if is_api(request):
        return error_response(403, "Forbidden.", code="permission_denied")
    return defaults.permission_denied(request, exception)


def handler404(request, exception=None):
    if proxy_errors.is_proxy_path(request.path):
        return _proxied(request, 404, f"Unknown path: {request.path}")
    if is_api(request):
        return error_response(404, "Not found.", code="not_found")
    return defaults.page_not_found(request, exception)


def handler500(request):
    if proxy_errors.is_proxy_path(request.path):
        return _proxied(request, 500, "Codecosts failed to handle this request.")
    if is_api(request):
        return error_response(500, "Internal server error.", code="internal_error")
    return defaults.server_error(request)
