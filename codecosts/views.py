import logging

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from codecosts.api import error_response

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
            "active_session": None,
        },
        status=200 if healthy else 503,
    )


def _is_api(request) -> bool:
    return request.path_info.startswith("/api/")


def handler400(request, exception=None):
    if _is_api(request):
        return error_response(400, "Bad request.", code="bad_request")
    return defaults.bad_request(request, exception)


def handler403(request, exception=None):
    if _is_api(request):
        return error_response(403, "Forbidden.", code="permission_denied")
    return defaults.permission_denied(request, exception)


def handler404(request, exception=None):
    if _is_api(request):
        return error_response(404, "Not found.", code="not_found")
    return defaults.page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return error_response(500, "Internal server error.", code="internal_error")
    return defaults.server_error(request)
