"""One canonical spelling of every proxied path.

The meter, the rate limit and the upstream URL must all see the same path, or a call can
be billed by the provider without being metered here: `/v1/./messages` once reached the
provider's `/v1/messages` unmetered, because the HTTP client normalised the URL after
the meter had chosen from the raw one, and `/v1/%2e%2e/...` left the provider API.

So the path is decoded exactly once and refused unless it is already the only spelling
of itself: printable ASCII from the small set API paths use, no dot segments, no empty
segments, no encoded slash or backslash, no `#`, `%` or control character once decoded.
What is accepted is forwarded byte for byte (never re-normalised, see proxy.views), so
the path that was metered is the path that was billed. One trailing slash is dropped:
`/v1/messages/` is forwarded, and metered, as `/v1/messages`.
"""

from urllib.parse import unquote_to_bytes

# RFC 3986 unreserved characters, ":" (OpenAI fine-tuned model ids) and "@", and "/".
# Sub-delimiters such as ";" or "=" are left out: some servers strip `;params` from a
# path segment, which would again make two spellings of one route.
_PATH_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:@/"
# A query is passed through as sent, but only as printable ASCII (no space, no controls).
_QUERY_BYTES = bytes(range(0x21, 0x7F))
_ENCODED_SEPARATORS = (b"%2f", b"%2F", b"%5c", b"%5C")


class PathRefused(ValueError):
    """A path that is not the canonical spelling of itself; the message says why."""


def canonical_path(raw: bytes) -> str:
    """Decode a request path once and return its canonical form, or raise PathRefused."""
    if b"%" in raw:
        if any(separator in raw for separator in _ENCODED_SEPARATORS):
            raise PathRefused("encoded slashes and backslashes are not allowed in a path")
        raw = unquote_to_bytes(raw)
    if raw.translate(None, _PATH_BYTES):
        raise PathRefused(
            "the path may contain only letters, digits and - . _ ~ : @ / "
            "(no %, #, ?, backslash, space, control or non-ASCII character once decoded)"
        )
    if not raw.startswith(b"/"):
        raise PathRefused("the path must start with /")
    if len(raw) > 1 and raw.endswith(b"/"):
        raw = raw[:-1]
    wrapped = raw + b"/"
    if raw != b"/" and (b"//" in wrapped or b"/./" in wrapped or b"/../" in wrapped):
        raise PathRefused("empty, '.' and '..' path segments are not allowed")
    return raw.decode("ascii")


def query_is_clean(query: bytes) -> bool:
    """Whether a query string is printable ASCII only (it is forwarded as sent)."""
    return not query.translate(None, _QUERY_BYTES)
