"""Middleware of the pages and the REST API (proxy routes never pass through it)."""

from django.core.exceptions import RequestDataTooBig
from django.utils.deprecation import MiddlewareMixin

from codecosts.views import is_api, request_too_large


class SecureCookiesMiddleware(MiddlewareMixin):
    """Mark every cookie `Secure` on a request that came over TLS.

    Not SESSION_COOKIE_SECURE / CSRF_COOKIE_SECURE: one process also serves plain-http
    loopback (local mode), where a Secure cookie would never come back.
    """

    def process_response(self, request, response):
        if request.is_secure():
            for cookie in response.cookies.values():
                cookie["secure"] = True
        return response


class RequestTooLargeMiddleware(MiddlewareMixin):
    """Answer a body over DATA_UPLOAD_MAX_MEMORY_SIZE with 413, before CSRF reads it.

    Otherwise Django turns RequestDataTooBig into a 400 and logs it with a traceback.
    (The REST API's bodies are read later, by DRF: codecosts.api answers those.)
    """

    def process_view(self, request, view, args, kwargs):
        if request.method != "POST" or is_api(request):
            return None
        try:
            request.POST  # noqa: B018 - what CsrfViewMiddleware reads next
        except RequestDataTooBig:
            return request_too_large(request)
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return request_too_large(request)
        return None
