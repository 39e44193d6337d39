"""What a proxy view answers, and how the lean handler (proxy/asgi.py) sends it.

A forwarded answer is a `ProxyResponse`: its headers already as the bytes ASGI sends,
then its body, or its stream, chunk by chunk as the provider sends them, each written to
the client before the next is read. The answers the proxy makes itself (errors, the root
probe) are Django's HttpResponse (proxy.errors), sent as Django's ASGI handler sends
them. `close` runs what a ProxyResponse holds open once it is sent, or never will be:
the upstream connection, and the exchange's log if its stream never started.
"""

from contextlib import aclosing

from django.http import HttpResponse


class ProxyResponse:
    __slots__ = ("status", "headers", "body", "stream", "closers")

    def __init__(self, status: int, headers: dict[str, str], *, body: bytes = b"", stream=None):
        self.status = status
        self.headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        self.body = body
        self.stream = stream  # an async iterator of bytes, or None for `body`
        self.closers: list = []


async def send_response(response: ProxyResponse | HttpResponse, send) -> None:
    if type(response) is ProxyResponse:
        await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
        if response.stream is None:
            await send({"type": "http.response.body", "body": response.body})
            return
        # Closed even when the client leaves mid-stream: the relay's `finally` logs it.
        async with aclosing(response.stream) as stream:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body"})
        return
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"set-cookie", cookie.output(header="").encode("ascii").strip()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


def close(response: ProxyResponse | HttpResponse) -> None:
    """Free what the response holds; an HttpResponse made here holds nothing."""
    if type(response) is ProxyResponse:
        for closer in response.closers:
            closer()
