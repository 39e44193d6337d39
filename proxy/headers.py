"""Which headers cross the proxy, each way (RFC 9110 §7.6.1), and the few it reads.

Request headers are forwarded as sent except hop-by-hop ones and Codecosts' own; the
headers the proxy itself needs (the key, the session, the caller's credential for its
last four characters, who and which agent calls) are picked out in the same pass, with a
dictionary lookup each; the worker reads them (usage.attribution).
"""

# Who and what calls (usage.attribution reads them in the worker); Claude Code's own
# x-claude-code-* headers are forwarded, Codecosts' x-codecosts-* never are.
# x-codecosts-omit travels with them: the proxy acts on it (proxy.exchange), the worker
# tells in the log's warnings a value it ignored.
ATTRIBUTION_HEADERS = (
    "x-codecosts-user", "x-codecosts-tags", "x-claude-code-agent-id",
    "x-claude-code-parent-agent-id", "x-claude-code-request-class", "x-claude-code-agent-type",
    "x-codecosts-omit",
)

# Request headers never forwarded: hop-by-hop ones (and any the Connection header names,
# RFC 9110 §7.6.1), those the client library or the proxy must set for the new
# connection, cookies, forwarding metadata and Codecosts' own (x-codecosts-key above all).
# accept-encoding is negotiated by the upstream client itself, because the proxy must
# read the bytes to meter them; the client receives identity-encoded bodies.
_DROP_REQUEST_HEADERS = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization",
        b"proxy-connection", b"te", b"trailer", b"trailers", b"transfer-encoding",
        b"upgrade", b"host", b"content-length", b"cookie", b"forwarded",
        b"accept-encoding",
    }
)
_DROP_REQUEST_PREFIXES = (b"x-forwarded-", b"x-codecosts-")
# Response headers not passed back: hop-by-hop ones (and any Connection names), the
# length and encoding of a body the client now gets decompressed, upstream cookies (never
# kept for a proxy domain) and CORS headers (the provider's CORS policy is not the
# proxy's: it would let web pages read answers through a local proxy).
_DROP_RESPONSE_HEADERS = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
        "content-length", "content-encoding", "set-cookie",
    }
)
_DROP_RESPONSE_PREFIXES = ("access-control-",)
_REQUEST_ID_HEADERS = ("request-id", "x-request-id")
# Read by the proxy (and dropped or forwarded as above): for itself, and for attribution.
_READ = frozenset(
    {
        b"x-api-key", b"authorization", b"user-agent", b"x-codecosts-session",
        b"x-claude-code-session-id", b"x-codecosts-key",
    }
)
_WATCHED = _READ | {name.encode() for name in ATTRIBUTION_HEADERS}
# Every x-codecosts-property-<name> is read too (as dropped: no lookup for the others).
_PROPERTY_PREFIX = b"x-codecosts-property-"


def _connection_options(value: str) -> set[str]:
    """The header names a Connection header lists: hop-by-hop too (RFC 9110 §7.6.1)."""
    return {option.strip().lower() for option in value.split(",")}


def forward_headers(scope) -> tuple[list[tuple[str, str]], dict[bytes, str]]:
    """Headers to send upstream, and the few the proxy itself reads."""
    forwarded = []
    seen = {}
    hop_by_hop = None
    for name, value in scope["headers"]:
        if name in _WATCHED:
            seen[name] = value.decode("latin-1")
        if name in _DROP_REQUEST_HEADERS or name.startswith(_DROP_REQUEST_PREFIXES):
            if name.startswith(_PROPERTY_PREFIX):
                seen[name] = value.decode("latin-1")
            elif name == b"connection":
                hop_by_hop = (hop_by_hop or set()) | _connection_options(value.decode("latin-1"))
            continue
        forwarded.append((name.decode("latin-1"), value.decode("latin-1")))
    if hop_by_hop:
        forwarded = [(name, value) for name, value in forwarded if name not in hop_by_hop]
    return forwarded, seen


def attribution_headers(seen: dict[bytes, str]) -> dict[str, str]:
    """The attribution headers of a call, by name, as received (usually none or a few)."""
    return {name.decode("latin-1"): value for name, value in seen.items() if name not in _READ}


def key_hint(seen: dict[bytes, str]) -> str:
    """The last four characters of the caller's provider credential, for attribution."""
    key = seen.get(b"x-api-key") or seen.get(b"authorization", "")
    key = key.strip()
    return key[-4:] if len(key) >= 8 else ""


def response_headers(upstream_headers, log_id: str | None) -> dict[str, str]:
    """The upstream's response headers the client gets, with the log id when metered."""
    headers = {}
    connection = upstream_headers.get("connection")
    hop_by_hop = _connection_options(connection) if connection else ()
    for name, value in upstream_headers.items():
        lowered = name.lower()
        if lowered in _DROP_RESPONSE_HEADERS or lowered.startswith(_DROP_RESPONSE_PREFIXES):
            continue
        if lowered in hop_by_hop:
            continue
        if lowered in headers:
            headers[lowered] = f"{headers[lowered]}, {value}"
        else:
            headers[lowered] = value
    if log_id:
        headers["x-codecosts-log-id"] = log_id
    return headers


def upstream_request_id(upstream_headers) -> str:
    """The provider's id of the request, for the log."""
    return next((upstream_headers[h] for h in _REQUEST_ID_HEADERS if h in upstream_headers), "")[:128]
