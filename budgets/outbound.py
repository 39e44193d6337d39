"""Where budget alerts may be POSTed: webhook and Slack URLs are user input (SSRF).

In hosted mode (ALERT_WEBHOOKS_ALLOW_PRIVATE off) a target must be http(s) and its host
must resolve only to public addresses: never loopback, private (RFC 1918, fc00::/7),
link-local (169.254/16 with the cloud metadata service, fe80::/10), unspecified,
multicast or reserved. The check runs when a destination is created and again at
every send, after resolving DNS, and the request then goes to the very address that
was checked (the URL's host replaced by it; Host and TLS SNI keep the name), so a name
that resolves elsewhere the second time (DNS rebinding) reaches nothing private.
Redirects are never followed, and no proxy from the environment is used.
"""

import ipaddress
import socket

import httpx
from django.conf import settings

from codecosts import __version__

TIMEOUT_SECONDS = 5.0
MAX_URL_LENGTH = 500
USER_AGENT = f"Codecosts/{__version__} (budget alerts)"


class UnsafeTarget(ValueError):
    """A URL alerts must not be sent to; `code` says why, for API errors."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


class Unresolvable(UnsafeTarget):
    """DNS gave no answer: accepted at creation, retried at send time (it may be transient)."""

    def __init__(self, message: str):
        super().__init__(message, "unresolvable")


def url_parse(url: str) -> httpx.URL:
    """The URL if it is one alerts can be POSTed to (http or https, with a host)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeTarget(f"target is longer than {MAX_URL_LENGTH} characters", "too_long")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise UnsafeTarget("target is not a valid URL", "invalid_url") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeTarget("target must be an http:// or https:// URL", "invalid_scheme")
    if not parsed.raw_host:
        raise UnsafeTarget("target has no host", "invalid_url")
    return parsed


def address_refusal(address: str) -> str | None:
    """What kind of non-public address this is ("loopback", "private", ...), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        # An IPv4 address wrapped in IPv6 reaches that IPv4 address.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return address_refusal(str(embedded))
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    ):
        if flag:
            return kind
    return None


def public_addresses(url: httpx.URL) -> list[str]:
    """Resolve the URL's host; every address it has, if all are public, else refuse.

    All of them, not only the first: a name with one public and one private address
    would otherwise be a coin toss away from the private one.
    """
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"target host {host} could not be resolved ({exc})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        kind = address_refusal(address)
        if kind:
            raise UnsafeTarget(
                f"target host {host} resolves to {address}, a {kind} address: alerts are "
                "only sent to public addresses",
                "unsafe_target",
            )
    return addresses


def target_check(url: str) -> None:
    """Refuse a target URL alerts cannot, or must not, be sent to (raises UnsafeTarget).

    A name that does not resolve now is accepted: DNS may be failing for a moment, or
    the name not published yet; every send resolves and checks it again.
    """
    parsed = url_parse(url)
    if not settings.ALERT_WEBHOOKS_ALLOW_PRIVATE:
        try:
            public_addresses(parsed)
        except Unresolvable:
            pass


def post(
    url: str, *, body: bytes, headers: dict[str, str], transport: httpx.BaseTransport | None = None
) -> int:
    """POST `body` to `url` (checked again, then pinned to the checked address); the status.

    Raises UnsafeTarget for a target that is refused now, httpx.HTTPError when the
    request does not get an answer. The response body is never read. `transport`: an
    httpx.MockTransport in unit tests.
    """
    parsed = url_parse(url)
    extensions = {}
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
    if not settings.ALERT_WEBHOOKS_ALLOW_PRIVATE:
        address = public_addresses(parsed)[0]
        headers["host"] = parsed.netloc.decode("ascii")
        if parsed.scheme == "https":
            # The certificate is checked against the name, not the address.
            extensions["sni_hostname"] = parsed.raw_host.decode("ascii")
        parsed = parsed.copy_with(host=address)
    with httpx.Client(
        timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False, transport=transport
    ) as client:
        request = client.build_request(
            "POST", parsed, content=body, headers=headers, extensions=extensions
        )
        response = client.send(request, stream=True)
        response.close()
        return response.status_code
