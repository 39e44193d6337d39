"""Real processes for integration tests: the ASGI server and, with Redis, a Celery worker.

They run exactly as in production (uvicorn on codecosts.asgi, `celery -A codecosts
worker`), against the test database, with the provider upstream pointed at the fake one.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection
from django_ratelimit.core import _get_window

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_clear_of_window_end(*values: str, margin: float = 15) -> None:
    """Sleep past the end of each value's one-minute rate-limit window if it is near.

    django-ratelimit counts in fixed windows whose end is offset by a hash of the counted
    value (a slug, a username, an address); a test counting calls must not straddle one.
    """
    for value in values:
        left = _get_window(value, 60) - time.time()
        if left < margin:
            time.sleep(left + 1)


def fresh_slug(prefix: str = "t", margin: float = 30) -> str:
    """A slug no earlier test used (so no server's cached lookup of it is stale), whose
    rate-limit window has at least `margin` seconds to run."""
    while True:
        slug = f"{prefix}-{uuid.uuid4().hex[:12]}"
        if _get_window(slug, 60) - time.time() >= margin:
            return slug


def raw_request(
    url: str,
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    *,
    host_header: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Send one request with the target exactly as given; its status, headers and body.

    HTTP client libraries normalise or refuse odd paths (dot segments, CR LF) before
    sending; an attacker's client does not, so the attack tests write the bytes themselves.
    `host_header` replaces the Host a browser would send for this URL (DNS rebinding).
    """
    host, _, port = url.removeprefix("http://").partition(":")
    host_header = host_header or f"{host}:{port}".encode()
    head = [method.encode() + b" " + target + b" HTTP/1.1", b"host: " + host_header]
    head += [name + b": " + value for name, value in headers]
    head += [b"content-length: " + str(len(body)).encode(), b"connection: close"]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    response_headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    if response_headers.get("transfer-encoding") == "chunked":
        payload = _dechunk(payload)
    return int(status_line.split()[1]), response_headers, payload


def _dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        size = int(size.split(b";")[0], 16)
        if not size:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


def database_url() -> str:
    """The URL of the test database pytest-django created, for child processes."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def redis_url_for_tests() -> str:
    """A Redis database of this test run's own, so parallel runs never share queues or limits."""
    if not settings.REDIS_URL:
        return ""
    base = (
        settings.REDIS_URL.rsplit("/", 1)[0]
        if settings.REDIS_URL.count("/") > 2
        else settings.REDIS_URL
    )
    return f"{base}/{1 + os.getpid() % 15}"


def child_env(*, upstream_url: str, spool_dir: Path, redis_url: str | None = None, **extra) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "codecosts.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url_for_tests() if redis_url is None else redis_url,
        "ANTHROPIC_UPSTREAM_URL": upstream_url,
        "OPENAI_UPSTREAM_URL": upstream_url,
        "USAGE_SPOOL_DIR": str(spool_dir),
        # Hosted mode unless a test asks for local mode (the default without DATABASE_URL).
        "LOCAL_MODE": "0",
        "LOCAL_ONLY": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Process:
    def __init__(self, args: list[str], env: dict, log_path: Path):
        self.args = args
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Process":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class AsgiServer(Process):
    def __init__(self, env: dict, log_path: Path, port: int | None = None):
        self.port = port or free_port()
        super().__init__(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "codecosts.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--lifespan",
                "on",
                "--no-access-log",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
            ],
            {**env, "PORT": str(self.port)},
            log_path,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AsgiServer":
        super().start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ASGI server exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"ASGI server did not answer within 30 s:\n{self.log()}")


class CeleryWorker(Process):
    """`pool`: the solo pool by default (one task at a time, so tests see batches in
    order); None for the configured pool (settings.CELERY_WORKER_POOL), as deployed."""

    def __init__(self, env: dict, log_path: Path, pool: str | None = "solo"):
        super().__init__(
            [
                sys.executable, "-m", "celery", "-A", "codecosts", "worker", "-Q", "usage,default",
                *(["-P", pool] if pool else []),
                "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
            ],
            env,
            log_path,
        )


def wait_until(
    predicate, *, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    if callable(message):
        message = message()
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
