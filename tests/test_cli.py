"""The `codecosts` command (codecosts/cli.py), run as a user runs it.

Real processes: `codecosts proxy start` on a free port with a var/ of the test's own, then
each command in a process of its own, from another working directory, with a clean
environment (no LOCAL_*, DATABASE_URL, PORT or SECRET_KEY). VAR_DIR is the one variable
they get: the test's var/ is not the repository's. The provider is the fake upstream.
"""

import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import pytest

from budgets.periods import period_bounds
from codecosts import cli
from tests.fake_upstream import FIXTURES
from tests.live import ROOT, free_port, wait_until

CODECOSTS = Path(sys.executable).parent / ("codecosts.exe" if os.name == "nt" else "codecosts")
PROVIDER_KEY = "sk-ant-api03-cli-test-provider-key-0042"
BASIC = json.loads((FIXTURES / "EXPECTED.json").read_text())["fixtures"][
    "anthropic_nonstream_basic.json"
]
NO_SERVER = (
    "No Codecosts proxy is running on 127.0.0.1:{port}; start one with `make run` "
    "(or `codecosts proxy start`).\n"
)


def plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def cost_text(usd: Decimal) -> str:
    """How the command shows a cost: exact cents, then dollars."""
    return f"{plain(usd * 100)} cents (${plain(usd)})"


def clean_env(var_dir: Path, home: Path, **extra) -> dict:
    """A new terminal's environment: nothing of Codecosts' but where var/ is."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    env["VAR_DIR"] = str(var_dir)
    env.update({name: str(value) for name, value in extra.items()})
    return env


class LocalProxy:
    def __init__(self, var_dir: Path, port: int, home: Path, process: subprocess.Popen, log: Path):
        self.var_dir = var_dir
        self.port = port
        self.home = home
        self.process = process
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, **env) -> subprocess.CompletedProcess:
        """`codecosts ARGS` in another directory with a clean environment."""
        return subprocess.run(
            [str(CODECOSTS), *args],
            cwd=self.home,
            env=clean_env(self.var_dir, self.home, **env),
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def local_proxy(tmp_path_factory, fake_upstream):
    """`codecosts proxy start --port N`, as from a first terminal."""
    with running_local_proxy(tmp_path_factory, fake_upstream) as proxy:
        yield proxy


@contextmanager
def running_local_proxy(tmp_path_factory, fake_upstream):
    """`codecosts proxy start --port N` with a home and var/ of its own, until the end."""
    if not CODECOSTS.exists():
        pytest.fail(f"{CODECOSTS} is missing: `make .venv/.cli` installs the command")
    home = tmp_path_factory.mktemp("cli-home")
    var_dir = tmp_path_factory.mktemp("cli-var") / "var"
    port = free_port()
    log = home / "proxy.log"
    env = clean_env(
        var_dir,
        home,
        SHELL="/bin/bash",
        ANTHROPIC_UPSTREAM_URL=fake_upstream.url,
        OPENAI_UPSTREAM_URL=fake_upstream.url,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(CODECOSTS), "proxy", "start", "--port", str(port)],
            cwd=home,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    proxy = LocalProxy(var_dir, port, home, process, log)

    def answers():
        assert process.poll() is None, f"proxy exited:\n{log.read_text()}"
        try:
            return httpx.get(proxy.url + "/health", timeout=1, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, timeout=90, interval=0.2, message=lambda: log.read_text())
        yield proxy
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def call_through_anthropic(proxy: LocalProxy, prompt: str, **headers):
    client = anthropic.Anthropic(
        api_key=PROVIDER_KEY, base_url=f"{proxy.url}/anthropic", max_retries=0
    )
    message = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        messages=[{"role": "user", "content": prompt}],
        extra_headers={"x-fake-scenario": "fixture=anthropic_nonstream_basic.json", **headers},
    )
    assert (message.usage.input_tokens, message.usage.output_tokens) == (
        BASIC["input_tokens"],
        BASIC["output_tokens"],
    )


# --- The whole local workflow -----------------------------------------------------------


@pytest.mark.integration
def test_proxy_start_prints_the_exports_the_next_commands_and_a_dashboard_link(local_proxy):
    text = wait_until(lambda: "/login/link/" in (log := local_proxy.log.read_text()) and log)
    assert f"export ANTHROPIC_BASE_URL={local_proxy.url}/anthropic\n" in text
    assert f'  {CODECOSTS} start "Build recommendation engine"\n' in text
    assert re.search(rf"^{re.escape(local_proxy.url)}/login/link/[\w-]+$", text, re.MULTILINE)


@pytest.mark.integration
def test_a_session_started_in_another_terminal_gets_the_calls_and_their_cost(local_proxy):
    name = "Build recommendation engine"
    started = local_proxy.run("start", name)
    assert (started.returncode, started.stderr) == (0, "")
    session_id = re.fullmatch(
        rf'Started session "{name}" \(([0-9a-f-]{{36}})\), organization-wide, '
        r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.\n",
        started.stdout,
    ).group(1)

    call_through_anthropic(local_proxy, "Hello")
    call_through_anthropic(local_proxy, "And again")

    total = 2 * Decimal(BASIC["cost_usd"])  # 2 x $0.01383
    assert cost_text(total) == "2.766 cents ($0.02766)"

    def status_after_two_calls():
        result = local_proxy.run("status")
        assert result.returncode == 0, result.stderr
        return result.stdout if "  calls:    2\n" in result.stdout else None

    lines = wait_until(status_after_two_calls, timeout=30).splitlines()
    assert lines[0] == f"Active session: {name}"
    assert lines[1] == f"  id:       {session_id}"
    assert re.fullmatch(r"  started:  \S+ \S+ UTC \(\d+s ago\)", lines[2]), lines[2]
    assert lines[3:] == ["  calls:    2", f"  cost:     {cost_text(total)}", "budget: none"]
    # What /health reports as the active session is what status showed.
    health = httpx.get(local_proxy.url + "/health", trust_env=False).json()["active_session"]
    assert (health["id"], health["calls"], health["cost_cents"]) == (session_id, 2, "2.766")

    ended = local_proxy.run("end")
    assert (ended.returncode, ended.stdout) == (
        0,
        f'Ended session "{name}" ({session_id}): 2 calls, {cost_text(total)}.\n',
    )
    assert local_proxy.run("status").stdout == "No active session.\nbudget: none\n"
    call_through_anthropic(local_proxy, "After the end")  # joins no session

    listed = local_proxy.run("sessions")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert re.split(r"\s{2,}", header) == [
        "STARTED (UTC)", "ENDED (UTC)", "CALLS", "COST", "SCOPE", "SOURCE", "NAME"
    ]
    row = next(row for row in rows if row.endswith(f"  {name}"))
    cells = re.split(r"\s{2,}", row.strip())
    assert cells[2:] == ["2", cost_text(total), "organization-wide", "manual", name]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cells[1])  # ended, not "active"


@pytest.mark.integration
def test_starting_a_session_ends_the_one_running_and_says_what_it_came_to(local_proxy):
    local_proxy.run("start", "First")
    result = local_proxy.run("start", "Second")

    first, second = result.stdout.splitlines()
    assert re.fullmatch(
        r'Ended session "First" \([0-9a-f-]{36}\): 0 calls, 0 cents \(\$0\)\.', first
    )
    assert second.startswith('Started session "Second" (')
    assert local_proxy.run("status").stdout.startswith("Active session: Second\n")
    local_proxy.run("end")


@pytest.mark.integration
def test_manage_py_session_in_a_clean_environment_works_in_local_mode(local_proxy):
    def manage(*args):
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "session", *args],
            cwd=local_proxy.home,
            env=clean_env(local_proxy.var_dir, local_proxy.home),
            capture_output=True,
            text=True,
            timeout=60,
        )

    started = manage("start", "From manage.py")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith('Started session "From manage.py" (')
    assert 'for organization "Local"' in started.stdout
    # The server sees the same session: one installation, one idea of what is local.
    assert local_proxy.run("status").stdout.startswith("Active session: From manage.py\n")
    assert manage("end").stdout.startswith('Ended session "From manage.py"')


@pytest.mark.integration
def test_open_prints_a_fresh_one_time_dashboard_link(local_proxy):
    result = local_proxy.run("open")

    assert result.returncode == 0, result.stderr
    link = result.stdout.splitlines()[-1]
    assert re.fullmatch(rf"{re.escape(local_proxy.url)}/login/link/[\w-]+", link)
    first = httpx.get(link, trust_env=False)
    assert first.status_code == 302 and "sessionid" in first.cookies
    assert httpx.get(link, trust_env=False).status_code != 302  # one time


@pytest.mark.integration
def test_status_shows_the_budget_nearest_its_amount(local_proxy):
    key = (local_proxy.var_dir / "cli-key").read_text().strip()
    api = httpx.Client(
        base_url=local_proxy.url, headers={"Authorization": f"Bearer {key}"}, trust_env=False
    )
    # Person budgets: they count only this test's calls, whatever the others made.
    far = api.post("/api/budgets", json={"name": "Far", "scope": "person", "person": "cli-budget", "amount_usd": "100"})
    near = api.post(
        "/api/budgets",
        json={"name": "CLI tester", "scope": "person", "person": "cli-budget", "amount_usd": "0.05", "period": "day"},
    )
    assert (far.status_code, near.status_code) == (201, 201), near.text
    try:
        call_through_anthropic(local_proxy, "Spend a little", **{"x-codecosts-user": "cli-budget"})
        _, end = period_bounds("day", "UTC", datetime.now(UTC))

        def spent():
            result = local_proxy.run("status")
            assert result.returncode == 0, result.stderr
            return result.stdout if "(27.7%)" in result.stdout else None

        # $0.01383 of $0.05 today: 27.66%; the projection depends on the time of day.
        line = wait_until(spent, timeout=30).splitlines()[-1]
        assert re.fullmatch(
            r"budget: CLI tester \$0\.01 of \$0\.05 today \(27\.7%\), projected \$[\d,]+\.\d\d; "
            rf"resets {end:%Y-%m-%d %H:%M} UTC",
            line,
        ), line
    finally:
        for budget in (far, near):
            api.delete(f"/api/budgets/{budget.json()['id']}")
    assert local_proxy.run("status").stdout.endswith("budget: none\n")


# --- The secret -----------------------------------------------------------------------------


@pytest.mark.integration
def test_var_and_the_cli_key_are_the_users_alone(local_proxy):
    var = local_proxy.var_dir
    assert var.stat().st_mode & 0o777 == 0o700
    files = {p.name: p.stat().st_mode & 0o777 for p in var.iterdir() if p.is_file()}
    for name in ("cli-key", "server-url", "secret_key", "codecosts.sqlite3"):
        assert name in files
    assert "codecosts.sqlite3-wal" in files
    assert set(files.values()) == {0o600}, files


@pytest.mark.integration
def test_the_session_api_refuses_a_wrong_secret(local_proxy, tmp_path):
    key = (local_proxy.var_dir / "cli-key").read_text().strip()
    wrong = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")

    def start(secret):
        return httpx.post(
            local_proxy.url + "/api/sessions",
            json={"name": "Not mine"},
            headers={"Authorization": f"Bearer {secret}"},
            trust_env=False,
        )

    assert start(wrong).status_code == 401
    assert local_proxy.run("status").stdout == "No active session.\nbudget: none\n"

    # The command, given a var/ with a wrong key, says so in one line.
    other_var = tmp_path / "var"
    other_var.mkdir()
    (other_var / "server-url").write_text(local_proxy.url + "\n")
    (other_var / "cli-key").write_text(wrong + "\n")
    result = subprocess.run(
        [str(CODECOSTS), "start", "Not mine"],
        cwd=tmp_path,
        env=clean_env(other_var, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"The proxy on 127.0.0.1:{local_proxy.port} refused the key in {other_var / 'cli-key'} "
        "(Invalid API key.); restart the proxy to renew it.\n"
    )


# --- Without a server -------------------------------------------------------------------------


def run_without_server(tmp_path, *args, **env):
    var_dir = tmp_path / "var"
    var_dir.mkdir(exist_ok=True)
    return subprocess.run(
        [str(CODECOSTS), *args],
        cwd=tmp_path,
        env=clean_env(var_dir, tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_without_a_running_proxy_says_how_to_start_one(tmp_path):
    port = free_port()  # nothing listens there

    result = run_without_server(tmp_path, "start", "X", PORT=port)

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == NO_SERVER.format(port=port)


def test_it_looks_for_the_proxy_where_it_last_ran(tmp_path):
    port = free_port()
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "server-url").write_text(f"http://127.0.0.1:{port}\n")

    for command in (["status"], ["end"], ["sessions"], ["open"]):
        result = run_without_server(tmp_path, *command)
        assert (result.returncode, result.stderr) == (1, NO_SERVER.format(port=port)), command


# --- Finding the server, unit by unit ---------------------------------------------------------


def test_the_port_option_wins_then_port_then_the_recorded_url(tmp_path):
    environ = {"VAR_DIR": str(tmp_path)}
    assert str(cli.server_url(None, environ)) == "http://127.0.0.1:3739"
    (tmp_path / "server-url").write_text("http://[::1]:4100\n")
    assert str(cli.server_url(None, environ)) == "http://[::1]:4100"
    assert str(cli.server_url(None, {**environ, "PORT": "4200"})) == "http://[::1]:4200"
    assert str(cli.server_url(4300, {**environ, "PORT": "4200"})) == "http://[::1]:4300"


def test_a_browser_opens_only_where_there_is_a_desktop():
    assert cli.has_desktop({}, "linux") is False
    assert cli.has_desktop({"DISPLAY": ":0"}, "linux") is True
    assert cli.has_desktop({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is True
    assert cli.has_desktop({}, "darwin") is True
    assert cli.has_desktop({"SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22"}, "darwin") is False


def _budget(name: str, percent: float, **status) -> dict:
    return {
        "name": name, "amount_usd": "100", "period": "month",
        "status": {
            "period_end": "2027-01-01T05:00:00Z", "time_zone": "America/New_York", "spend_usd": "12.345",
            "percent": percent, "projected_usd": "45.674", "blocked": False, **status,
        },
    }


def test_the_budget_line_names_the_one_nearest_its_amount_and_its_reset_in_its_zone():
    assert cli.budget_line([]) == "budget: none"
    budgets = [_budget("Low", 2.0), _budget("Team monthly", 12.3), _budget("Tie", 12.3)]
    assert cli.budget_line(budgets) == (
        "budget: Team monthly $12.35 of $100.00 this month (12.3%), projected $45.67; "
        "resets 2027-01-01 00:00 America/New_York"
    )
    blocked = _budget("Daily", 120.0, spend_usd="1234.5", blocked=True, time_zone="UTC", period_end="2026-12-04T00:00:00Z")
    blocked["period"] = "day"
    assert cli.budget_line([*budgets, blocked]) == (
        "budget: Daily $1,234.50 of $100.00 today (120.0%), projected $45.67; "
        "blocked by its hard limit until 2026-12-04 00:00 UTC"
    )


def test_costs_are_shown_exactly_in_cents_and_dollars():
    assert cli._cost("2.766") == "2.766 cents ($0.02766)"
    assert cli._cost("0") == "0 cents ($0)"
    assert cli._cost("1E+2") == "100 cents ($1)"

