"""LOCAL_ONLY's checks (proxy/asgi.py runs them before anything else): the socket peer
must be loopback, and a request a browser marks as coming from another site is refused,
in the caller's terms (the provider's error shape on proxy routes, the API's JSON
elsewhere)."""

import ipaddress

import orjson

from proxy import errors

NOT_LOOPBACK = "Codecosts runs in local-only mode and accepts loopback connections only."


def is_loopback(scope) -> bool:
    client = scope.get("client")
    if not client:
        # No socket peer (a Unix socket, or an in-process test client): not a remote host.
        return True
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    # A server bound to :: sees IPv4 peers as ::ffff:a.b.c.d.
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _is_loopback_host(authority: bytes) -> bool:
    """Whether a Host (or Origin authority) names this machine: localhost or a loopback IP."""
    host = authority.lower()
    if host.startswith(b"["):
        name, bracket, port = host[1:].partition(b"]")
        if not bracket or (port and not (port[:1] == b":" and port[1:].isdigit())):
            return False
    else:
        name, _, port = host.partition(b":")
        if port and not port.isdigit():
            return False
    if name == b"localhost" or name.endswith(b".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.decode("ascii")).is_loopback
    except (ValueError, UnicodeDecodeError):
        return False


def browser_refusal(scope) -> str | None:
    """Why a loopback-only server refuses this request as coming from a web page, or None.

    Loopback peers are not enough on a laptop: any page in the user's browser can send
    simple cross-site POSTs to 127.0.0.1, and DNS rebinding lets a page read the answers
    under its own host name. So the Host must be a loopback name, and a request the
    browser marks as cross-site (an Origin that is not loopback, or
    Sec-Fetch-Site: cross-site) is refused. SDKs, curl and Claude Code send neither header.
    """
    for name, value in scope["headers"]:
        if name == b"host":
            if not _is_loopback_host(value):
                return "Codecosts runs in local-only mode: the Host must be localhost or a loopback address."
        elif name == b"origin":
            scheme, sep, authority = value.partition(b"://")
            if not sep or scheme not in (b"http", b"https") or not _is_loopback_host(authority):
                return "Codecosts runs in local-only mode and refuses requests from other web sites."
        elif name == b"sec-fetch-site" and value == b"cross-site":
            return "Codecosts runs in local-only mode and refuses requests from other web sites."
    return None


async def forbidden(scope, send, message: str, proxied: bool):
    """403 in the caller's terms: the provider's error shape on proxy routes, else the API's."""
    if proxied:
        body = errors.error_body(errors.provider_for_path(scope["path"]), 403, message)
    else:
        body = orjson.dumps({"error": {"type": "permission_error", "message": message, "code": "local_only"}})
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
