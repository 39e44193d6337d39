"""Integration fixtures (a pytest plugin): the fake upstream, a real ASGI server, a worker."""

import shutil
import subprocess
import uuid

import pytest

from accounts.models import Organization
from proxy.models import ProxyEndpoint
from tests.fake_upstream import FakeUpstream
from tests.live import (
    AsgiServer,
    CeleryWorker,
    child_env,
    free_port,
    redis_url_for_tests,
    wait_until,
)
from usage.models import UsageLog
from usage.spool import spooled_bytes


@pytest.fixture(scope="session")
def fake_upstream():
    upstream = FakeUpstream().start()
    yield upstream
    upstream.stop()


class Stack:
    """A running server (and worker), and helpers to look at what it logged."""

    def __init__(
        self, server: AsgiServer, worker: CeleryWorker | None, upstream: FakeUpstream, spool_dir
    ):
        self.server = server
        self.worker = worker
        self.upstream = upstream
        self.spool_dir = spool_dir

    def spooled_bytes(self) -> int:
        """What the server's spool holds, waiting for the broker (0 when all is delivered)."""
        return spooled_bytes(self.spool_dir)

    @property
    def url(self) -> str:
        return self.server.url

    def base_url(self, endpoint: ProxyEndpoint) -> str:
        return f"{self.server.url}/proxy/{endpoint.slug}"

    def process_logs(self) -> str:
        text = f"\n--- server ---\n{self.server.log()[-3000:]}"
        if self.worker:
            text += f"\n--- worker ---\n{self.worker.log()[-3000:]}"
        return text

    def log(self, log_id: str, timeout: float = 20.0) -> UsageLog:
        return wait_until(
            lambda: UsageLog.objects.filter(id=log_id).select_related("body").first(),
            timeout=timeout,
            message=lambda: f"usage log {log_id}{self.process_logs()}",
        )

    def logs_for(self, endpoint: ProxyEndpoint, count: int, timeout: float = 20.0) -> list[UsageLog]:
        def enough():
            logs = list(UsageLog.objects.filter(endpoint=endpoint).select_related("body"))
            return logs if len(logs) >= count else None

        return wait_until(
            enough, timeout=timeout, message=lambda: f"{count} usage logs of {endpoint.slug}{self.process_logs()}"
        )


def start_stack(tmp_path_factory, upstream: FakeUpstream, name: str, **settings) -> Stack:
    """Start a server (and a worker when Redis is configured) with these settings."""
    directory = tmp_path_factory.mktemp(name)
    env = child_env(upstream_url=settings.pop("upstream_url", upstream.url), spool_dir=directory / "spool", **settings)
    worker = None
    if env["REDIS_URL"]:
        worker = CeleryWorker(env, directory / "worker.log").start()
    try:
        server = AsgiServer(env, directory / "server.log").start()
    except Exception:
        if worker:
            worker.stop()
        raise
    return Stack(server, worker, upstream, directory / "spool")


@pytest.fixture(scope="session")
def live_stack(django_db_setup, django_db_blocker, tmp_path_factory, fake_upstream):
    """The product as deployed: uvicorn on codecosts.asgi, a Celery worker when REDIS_URL is set."""
    stack = start_stack(
        tmp_path_factory,
        fake_upstream,
        "live",
        RATE_LIMIT_MESSAGES_PER_MINUTE=0,
        RATE_LIMIT_COUNT_TOKENS_PER_MINUTE=0,
    )
    yield stack
    stack.server.stop()
    if stack.worker:
        stack.worker.stop()


@pytest.fixture
def proxy_endpoint(transactional_db):
    """A fresh organization and open endpoint; a unique slug so no cached lookup can be stale.

    Open (require_key false): these tests are about forwarding and metering; locked
    endpoints have their own (tests/proxy/test_endpoint_lock.py).
    """
    organization = Organization.objects.create(name=f"Proxy test {uuid.uuid4().hex[:6]}")
    return ProxyEndpoint.objects.create(
        organization=organization,
        name="Proxy test",
        slug=f"t-{uuid.uuid4().hex[:12]}",
        require_key=False,
    )


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, which the test may stop and start again."""
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is needed for tests with a broker of their own")
    port = free_port()

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        proc = None

        def start(self):
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(tmp_path),
                ],
                stdout=subprocess.DEVNULL,
            )
            wait_until(lambda: _redis_answers(port), timeout=10, message="redis to start")

        def stop(self):
            self.proc.terminate()
            self.proc.wait(10)

    server = Server()
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return redis.Redis(port=port, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False


__all__ = ["Stack", "start_stack", "redis_url_for_tests"]
