"""One request through the proxy's lean handler in this process (asgiref's
ApplicationCommunicator: no server), for the tests that drive it so."""

import asyncio

from asgiref.testing import ApplicationCommunicator

from proxy import upstream
from proxy.asgi import ProxyASGIHandler, _lifespan


def proxy_exchange(scope: dict, chunks=(b"",), timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send the request (its body in `chunks`); the status, headers (names lower-cased)
    and body the handler answered."""

    async def run():
        communicator = ApplicationCommunicator(ProxyASGIHandler(), scope)
        for index, chunk in enumerate(chunks):
            await communicator.send_input(
                {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            )
        start = await communicator.receive_output(timeout)
        assert start["type"] == "http.response.start", f"first message is {start['type']}"
        body = b""
        while True:
            message = await communicator.receive_output(timeout)
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await communicator.wait(timeout)
        await upstream.close()  # the session of this loop, which ends here
        return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body

    return asyncio.run(run())


def lifespan_startup() -> list[str]:
    """Run the server's lifespan startup (proxy.asgi._lifespan) to its completion; the
    types of the messages it sent."""
    sent = []

    async def receive():
        return {"type": "lifespan.startup"} if not sent else await asyncio.sleep(3600)

    async def send(message):
        sent.append(message["type"])

    async def startup():
        task = asyncio.ensure_future(_lifespan(receive, send))
        while not sent:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(startup())
    return sent
