"""Local mode's usage writer as `codecosts proxy start` runs it: a process of its own,
the server's child, started again when it dies and gone when the server is.

Each scenario counts the calls sent and answered and the logs written, lost and
duplicated (tests/usage/test_writer.py covers the writer's rules in this process).
"""

import os
import signal
import sqlite3
import time

import httpx
import pytest

from tests.live import wait_until
from tests.test_cli import PROVIDER_KEY, running_local_proxy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_proxy(tmp_path_factory, fake_upstream):
    with running_local_proxy(tmp_path_factory, fake_upstream) as proxy:
        yield proxy


def writers(server_pid: int) -> list[int]:
    """The server's children running `manage.py usage_writer`."""
    found = []
    # Every process on the machine, read from /proc; one may end between listing and reading.
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                parent = int(stat.read().rpartition(")")[2].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if parent == server_pid and b"usage_writer" in command:
            found.append(int(pid))
    return found


def send(proxy, count: int, tag: str) -> int:
    """`count` calls through the local endpoint, each named by its Claude Code session id
    (`<tag>-<n>`, which its log keeps); how many got 200."""
    answered = 0
    with httpx.Client(base_url=f"{proxy.url}/anthropic", trust_env=False, timeout=10) as client:
        for n in range(count):
            response = client.post(
                "/v1/messages",
                headers={"x-api-key": PROVIDER_KEY, "anthropic-version": "2023-06-01",
                         "x-claude-code-session-id": f"{tag}-{n}"},
                json={"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
            )
            answered += response.status_code == 200
    return answered


def logged(proxy, tag: str) -> tuple[int, int]:
    """(logs, distinct calls) of this scenario's calls, read from the server's database."""
    with sqlite3.connect(f"file:{proxy.var_dir / 'codecosts.sqlite3'}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute(
            "SELECT claude_code_session_id FROM usage_usagelog WHERE claude_code_session_id LIKE ?",
            (f"{tag}-%",),
        ).fetchall()
    return len(rows), len(set(rows))


def test_usage_is_written_by_a_writer_process_the_server_started(local_proxy):
    (writer,) = writers(local_proxy.process.pid)
    assert send(local_proxy, 10, "plain") == 10
    assert wait_until(lambda: logged(local_proxy, "plain") == (10, 10), timeout=20)
    assert writers(local_proxy.process.pid) == [writer]


def test_a_killed_writer_is_started_again_and_no_call_is_lost_or_written_twice(local_proxy):
    (writer,) = writers(local_proxy.process.pid)
    os.kill(writer, signal.SIGKILL)
    sent = 30
    assert send(local_proxy, sent, "killed") == sent  # answered while no writer runs
    assert wait_until(lambda: logged(local_proxy, "killed") == (sent, sent), timeout=30), logged(local_proxy, "killed")
    (again,) = writers(local_proxy.process.pid)
    assert again != writer


def test_a_paused_writer_leaves_batches_waiting_in_the_outbox_and_the_calls_are_answered(local_proxy):
    outbox = local_proxy.var_dir / "spool" / "outbox"
    (writer,) = writers(local_proxy.process.pid)
    os.kill(writer, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert send(local_proxy, 20, "paused") == 20
        assert time.monotonic() - started < 10
        assert wait_until(lambda: list(outbox.glob("batch-*.jsonl")), timeout=10)
        assert logged(local_proxy, "paused") == (0, 0)
    finally:
        os.kill(writer, signal.SIGCONT)
    assert wait_until(lambda: logged(local_proxy, "paused") == (20, 20), timeout=20)
    assert wait_until(lambda: not list(outbox.glob("batch-*.jsonl")), timeout=10)


def test_the_writer_stops_when_its_server_is_killed(tmp_path_factory, fake_upstream):
    with running_local_proxy(tmp_path_factory, fake_upstream) as proxy:
        (writer,) = writers(proxy.process.pid)
        os.kill(proxy.process.pid, signal.SIGKILL)
        proxy.process.wait(10)

        def gone():
            try:
                os.kill(writer, 0)
            except ProcessLookupError:
                return True
            # Reparented and exited but not yet reaped by init: a zombie is gone too.
            return open(f"/proc/{writer}/stat").read().split(") ")[1][0] == "Z"

        assert wait_until(gone, timeout=10)
