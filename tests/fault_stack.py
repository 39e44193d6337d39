"""The product in its production layout, on services of its own that faults may stop.

A private PostgreSQL and Redis on free ports, the fake provider (tests.fake_upstream),
the web process (uvicorn) and a Celery worker: the fault suite (tests.faults) kills and
restarts each of them, never the machine's shared services. Used by
tests/reliability/test_faults.py (short form) and benchmarks/faults.py (full runs).
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from tests.fake_upstream import FakeUpstream
from tests.live import ROOT, AsgiServer, CeleryWorker, free_port, wait_until


def missing_programs() -> list[str]:
    """The server programs a fault stack needs that this machine lacks."""
    missing = [] if shutil.which("redis-server") else ["redis-server"]
    return missing + ([] if _postgres_bin("initdb") else ["initdb (PostgreSQL server)"])


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary directory, on a free port.

    fsync is off: a killed server loses nothing the OS has (its faults are process
    faults, not power cuts), and the suite runs faster. As root (CI), the server runs as
    the `postgres` user, as PostgreSQL requires.
    """

    def __init__(self):
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="codecosts-faults-pg-"))
        self.data = self.directory / "data"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.directory, "postgres")
        self._run(_postgres_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/codecosts"

    def _run(self, *args) -> None:
        subprocess.run([*self._as, *map(str, args)], check=True, capture_output=True)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(_postgres_bin("pg_ctl"), "-D", self.data, "-l", self.directory / "server.log", "-o", options, "-w", "start")

    def running(self) -> bool:
        return subprocess.run([*self._as, _postgres_bin("pg_ctl"), "-D", str(self.data), "status"], capture_output=True).returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """mode "immediate" is a crash: no checkpoint, connections cut."""
        self._run(_postgres_bin("pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop")

    def create_database(self) -> None:
        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE codecosts")

    def remove(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRedis:
    """A Redis server on a free port, persisting as README asks of operators (an
    append-only file written on every command), so a killed broker keeps its queue."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=15, message="the private Redis to start")

    def _answers(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


class FaultStack:
    """Every part of the product as deployed, each of which can be killed and restarted."""

    def __init__(self, directory: Path, **settings):
        self.directory = directory
        self.upstream = FakeUpstream().start()
        self.postgres = PrivatePostgres()
        self.redis = PrivateRedis(directory)
        self.spool_dir = directory / "spool"
        self.web_port = free_port()
        self.web: AsgiServer | None = None
        self.worker: CeleryWorker | None = None
        self.settings = settings
        self._starts = 0

    def start(self) -> "FaultStack":
        self.postgres.start()
        self.postgres.create_database()
        self.redis.start()
        self.env = product_env(
            self.directory, self.postgres.url, self.redis.url, self.upstream.url, **self.settings
        )
        self.start_worker()
        self.start_web()
        return self

    def _log(self, name: str) -> Path:
        self._starts += 1
        return self.directory / f"{self._starts:02d}-{name}.log"

    def start_web(self) -> None:
        self.web = AsgiServer(self.env, self._log("web"), port=self.web_port).start()

    def start_worker(self) -> None:
        self.worker = CeleryWorker(self.env, self._log("worker"), pool=None).start()

    def signal_web(self, signum: int) -> None:
        self.web.proc.send_signal(signum)
        self.web.proc.wait(60 if signum == signal.SIGTERM else 10)

    def kill_worker(self) -> None:
        self.worker.proc.kill()
        self.worker.proc.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def new_endpoint(self, name: str) -> tuple[str, str]:
        return create_endpoint(self.env, name)

    def rows_by_nonce(self, endpoint_id: str) -> dict[str, int]:
        return rows_by_nonce(self.postgres.url, endpoint_id)

    def pipeline_state(self) -> dict:
        """/health's usage_pipeline: bytes waiting in the spool, records dead-lettered."""
        return httpx.get(self.url + "/health", timeout=10).json()["usage_pipeline"]

    def restart_stopped(self) -> list[str]:
        """Bring back whatever is down (every scenario restarts what it stops, so a part
        found down died by itself); the names of those restarted."""
        restarted = []
        if self.redis.proc.poll() is not None:
            self.redis.start()
            restarted.append("redis")
        if not self.postgres.running():
            self.postgres.start()
            restarted.append("postgres")
        if self.worker.proc.poll() is not None:
            self.start_worker()
            restarted.append("worker")
        if self.web.proc.poll() is not None:
            self.start_web()
            restarted.append("web")
        return restarted

    def process_logs(self) -> str:
        return "".join(
            f"\n--- {path.name} ---\n{path.read_text(errors='replace')[-2000:]}" for path in sorted(self.directory.glob("*.log"))
        )

    def stop(self) -> None:
        for process in (self.web, self.worker):
            if process:
                process.stop()
        if self.redis.proc and self.redis.proc.poll() is None:
            self.redis.kill()
        self.postgres.remove()
        self.upstream.stop()


def product_env(directory: Path, database_url: str, redis_url: str, upstream_url: str, **settings) -> dict:
    """The environment of the product's processes (hosted mode, rate limits off) on these
    services, migrated; `settings` add to it or replace what it sets."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "codecosts.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "fault-suite-secret-key",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ANTHROPIC_UPSTREAM_URL": upstream_url,
        "OPENAI_UPSTREAM_URL": upstream_url,
        "USAGE_SPOOL_DIR": str(directory / "spool"),
        "VAR_DIR": str(directory / "var"),
        "LOCAL_MODE": "0",
        "LOCAL_ONLY": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "RATE_LIMIT_MESSAGES_PER_MINUTE": "0",
        "RATE_LIMIT_COUNT_TOKENS_PER_MINUTE": "0",
        **{name: str(value) for name, value in settings.items()},
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    return env


def create_endpoint(env: dict, name: str) -> tuple[str, str]:
    """An organization with one open endpoint in env's database: (its id, its slug)."""
    slug = f"faults-{name}-{uuid.uuid4().hex[:8]}"
    code = (
        "from accounts.models import Organization; from proxy.models import ProxyEndpoint; "
        f"o = Organization.objects.create(name={slug!r}); "
        f"print(ProxyEndpoint.objects.create(organization=o, name={slug!r}, slug={slug!r}, require_key=False).id)"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.split()[-1], slug


def rows_by_nonce(database_url: str, endpoint_id: str) -> dict[str, int]:
    """An endpoint's usage logs counted by the nonce each call carried (its session id)."""
    with psycopg.connect(database_url, connect_timeout=5) as db:
        rows = db.execute(
            "SELECT claude_code_session_id, count(*) FROM usage_usagelog WHERE endpoint_id = %s GROUP BY 1",
            (uuid.UUID(endpoint_id),),
        ).fetchall()
    return dict(rows)


def wait_for(predicate, timeout: float, interval: float = 0.25):
    """The predicate's first truthy value, or its last value after the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
