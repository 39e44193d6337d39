"""Throttles of the pages that take a secret: sign-in (the page and the admin's), sign-up
and the one-time links.

Counters live in the rate-limit cache (Redis when REDIS_URL is set, so every web process
shares them), in django-ratelimit's fixed one-minute windows. Every attempt counts, the
right password included: a throttled request is refused before the password is checked,
so guessing stops paying once the limit is reached. The limits are settings
(THROTTLE_*_PER_MINUTE); 0 turns one off.
"""

import unicodedata

from django.conf import settings
from django_ratelimit.core import is_ratelimited

THROTTLED_MESSAGE = "Too many attempts; try again in a minute."
THROTTLED_STATUS = 429

LOGIN = "login"
SIGNUP = "signup"
LINK = "link"


def _submitted_username(_group, request) -> str:
    """The username as Django's login form compares it (NFKC), caseless, so Ada = ada."""
    username = request.POST.get("username", "")
    return unicodedata.normalize("NFKC", username).strip().casefold()[:150]


def _client_ip(_group, request) -> str:
    # Behind a load balancer this is the client's address only when the ASGI server
    # is told to trust its X-Forwarded-For (uvicorn: FORWARDED_ALLOW_IPS); see README.
    return request.META.get("REMOTE_ADDR") or "unknown"


def _throttled(request, group: str, rules) -> bool:
    """Count this request against every (key, per-minute limit) rule; True if one is over."""
    over = False
    for key, per_minute in rules:
        if per_minute <= 0 or not key(group, request):
            continue
        # Each rule is counted even once another is over, so a flood keeps every
        # window full rather than only the first one.
        over |= is_ratelimited(
            request, group=group, key=key, rate=f"{per_minute}/m", increment=True
        )
    return over


def login_throttled(request) -> bool:
    """Count a sign-in attempt (the page or the admin's) per username and per client IP."""
    return _throttled(
        request,
        LOGIN,
        [
            (_submitted_username, settings.THROTTLE_LOGIN_PER_USERNAME_PER_MINUTE),
            (_client_ip, settings.THROTTLE_LOGIN_PER_IP_PER_MINUTE),
        ],
    )


def signup_throttled(request) -> bool:
    """Count a sign-up attempt per client IP."""
    return _throttled(request, SIGNUP, [(_client_ip, settings.THROTTLE_SIGNUP_PER_IP_PER_MINUTE)])


def link_throttled(request) -> bool:
    """Count a visit to a one-time link (sign-in or invitation) per client IP.

    Their tokens are too long to guess, but every guess costs a database lookup.
    """
    return _throttled(request, LINK, [(_client_ip, settings.THROTTLE_LINKS_PER_IP_PER_MINUTE)])
