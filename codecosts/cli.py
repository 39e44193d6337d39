"""The `codecosts` command: run the local proxy, and start and end work sessions from any terminal.

    codecosts proxy start [--port N] [--host H] [--shell NAME]   (what `make run` runs)
    codecosts start NAME [--endpoint SLUG]
    codecosts end
    codecosts status
    codecosts sessions [--limit N]
    codecosts open

`proxy start` migrates the database and becomes `manage.py serve`. Every other command is
an HTTP client of that running server (no Django here): it finds it through --port, else
PORT, else the URL the server left in var/server-url, and authenticates with the API key
the server keeps in var/cli-key (mode 0600), through the same REST API as any script.
Errors are one line on stderr and exit status 1.

One module on purpose (about 450 lines): it is what a user's terminal runs, it must start
without importing Django, and each subcommand is a short function over the same few
helpers (finding the server, its key, one HTTP call, printing money); split, the parts
would only import each other.
"""

import argparse
import os
import secrets
import subprocess
import sys
import webbrowser
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from codecosts.local_files import (
    CLI_KEY_FILE,
    ROOT,
    SECRET_KEY_FILE,
    SERVER_URL_FILE,
    read_text,
    var_dir,
    var_dir_secure,
    write_private,
)

DEFAULT_URL = "http://127.0.0.1:3739"
START_HINT = "start one with `make run` (or `codecosts proxy start`)"
TIMEOUT_SECONDS = 15.0


class CliError(Exception):
    """A failure to tell the user in one line."""


# --- Talking to the running proxy -----------------------------------------------------


def server_url(port: int | None, environ=os.environ) -> httpx.URL:
    """The running server's URL: its recorded one, with --port or PORT when given."""
    recorded = read_text(var_dir(environ) / SERVER_URL_FILE)
    try:
        url = httpx.URL(recorded or DEFAULT_URL)
    except httpx.InvalidURL:
        url = httpx.URL(DEFAULT_URL)
    if port is None and environ.get("PORT"):
        try:
            port = int(environ["PORT"])
        except ValueError:
            raise CliError(f"PORT={environ['PORT']!r} is not a port number.") from None
    if port is not None:
        url = url.copy_with(port=port)
    return url


def _where(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}"


class Proxy:
    """The local proxy's REST API, as the local organization."""

    def __init__(self, url: httpx.URL, environ=os.environ):
        self.url = url
        self.key_path = var_dir(environ) / CLI_KEY_FILE
        self.key = read_text(self.key_path)
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        # trust_env=False: an HTTP(S)_PROXY of the user's must not carry loopback calls away.
        self.client = httpx.Client(
            base_url=url, headers=headers, timeout=TIMEOUT_SECONDS, trust_env=False
        )

    def get(self, path: str, **params) -> dict:
        return self._request("GET", path, params=params)

    def post(self, path: str, body: dict | None = None) -> dict:
        return self._request("POST", path, json=body or {})

    def health(self) -> dict:
        body = self._request("GET", "/health", accept=(503,))
        if body.get("status") != "ok":
            raise CliError(
                f"The Codecosts proxy on {_where(self.url)} is running, but its database is "
                f"{body.get('database', 'unavailable')}."
            )
        return body

    def _request(self, method: str, path: str, *, accept=(), **kwargs) -> dict:
        where = _where(self.url)
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise CliError(f"No Codecosts proxy is running on {where}; {START_HINT}.") from None
        except httpx.TimeoutException:
            raise CliError(f"The Codecosts proxy on {where} did not answer in time.") from None
        except httpx.HTTPError as exc:
            raise CliError(f"Could not talk to the Codecosts proxy on {where}: {exc}.") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 401:
            if not self.key:
                raise CliError(
                    f"No key for the codecosts command in {self.key_path}; the proxy writes it "
                    f"when it starts: {START_HINT}."
                )
            raise CliError(
                f"The proxy on {where} refused the key in {self.key_path} "
                f"({_error_message(body) or 'unauthorized'}); restart the proxy to renew it."
            )
        if not isinstance(body, dict):
            raise CliError(
                f"Unexpected answer from {self.url.join(path)} (HTTP {response.status_code}): "
                "is it a Codecosts proxy?"
            )
        if response.status_code >= 400 and response.status_code not in accept:
            message = _error_message(body) or f"HTTP {response.status_code}"
            raise CliError(message)
        return body


def _error_message(body) -> str:
    """The message of a Codecosts API error body, with its field errors."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return ""
    error = body["error"]
    fields = error.get("fields") or {}
    details = [str(m) for messages in fields.values() for m in _as_list(messages)]
    return "; ".join(details) if details else str(error.get("message", ""))


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# --- Shaping what the server says ---------------------------------------------------------


def _cost(cents_text) -> str:
    """ "2.766" cents → "2.766 cents ($0.02766)", exact."""
    try:
        cents = Decimal(str(cents_text or 0))
    except InvalidOperation:
        return str(cents_text)
    return f"{_plain(cents)} cents (${_plain(cents / 100)})"


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _calls(count) -> str:
    return "1 call" if count == 1 else f"{count} calls"


def _moment(text: str | None) -> str:
    if not text:
        return "-"
    return _parse(text).strftime("%Y-%m-%d %H:%M:%S")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def _describe(session: dict) -> str:
    return (
        f'session "{session["name"]}" ({session["id"]}): {_calls(session["calls"])}, '
        f"{_cost(session['cost_cents'])}"
    )


def _scope(session: dict) -> str:
    slug = session.get("endpoint_slug")
    return f"endpoint {slug}" if slug else "organization-wide"


# --- Commands -------------------------------------------------------------------------------


def command_start(proxy: Proxy, *, name: str, endpoint: str) -> None:
    # The session it replaces, to say what it came to (the server ends it in the same write).
    recent = proxy.get("/api/sessions", limit=100)["items"]
    replaced = [
        s
        for s in recent
        if s["source"] == "manual"
        and s["ended_at"] is None
        and (
            endpoint in (s["endpoint_slug"], s["endpoint"])
            if endpoint
            else s["endpoint"] is None
        )
    ]
    body = {"name": name, "endpoint": endpoint} if endpoint else {"name": name}
    session = proxy.post("/api/sessions", body)
    for previous in replaced:
        ended = proxy.get(f"/api/sessions/{previous['id']}")
        print(f"Ended {_describe(ended)}.")
    print(
        f'Started session "{session["name"]}" ({session["id"]}), {_scope(session)}, '
        f"at {_moment(session['started_at'])} UTC."
    )


def command_end(proxy: Proxy) -> None:
    active = proxy.health().get("active_session")
    if not active:
        print("No active session.")
        return
    session = proxy.post(f"/api/sessions/{active['id']}/end")
    print(f"Ended {_describe(session)}.")


def command_status(proxy: Proxy) -> None:
    """What /health says calls join now (the same session the proxy puts them in), and
    the budget nearest its amount."""
    active = proxy.health().get("active_session")
    if not active:
        print("No active session.")
    else:
        started = _parse(active["started_at"])
        ago = _duration((datetime.now(UTC) - started).total_seconds())
        print(f"Active session: {active['name']}")
        print(f"  id:       {active['id']}")
        print(f"  started:  {started:%Y-%m-%d %H:%M:%S} UTC ({ago} ago)")
        print(f"  calls:    {active['calls']}")
        print(f"  cost:     {_cost(active['cost_cents'])}")
    try:
        print(budget_line(_all_budgets(proxy)))
    except CliError as exc:
        print(f"budget: unavailable ({exc})")


def _all_budgets(proxy: Proxy) -> list[dict]:
    budgets, cursor = [], ""
    while True:
        page = proxy.get("/api/budgets", limit=100, **({"cursor": cursor} if cursor else {}))
        budgets += page["items"]
        cursor = page.get("nextCursor")
        if not page.get("hasMore") or not cursor:
            return budgets


_PERIOD_WORDS = {"day": "today", "week": "this week", "month": "this month"}


def _dollars(text) -> str:
    """ "12.345" dollars → "$12.35"."""
    return f"${Decimal(str(text)).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def budget_line(budgets: list[dict]) -> str:
    """The budget with the highest share of its amount spent in its period (the first of
    equals), from /api/budgets items: its spend, projection and reset in its zone."""
    if not budgets:
        return "budget: none"
    budget = max(budgets, key=lambda item: item["status"]["percent"])
    status = budget["status"]
    try:
        zone_name = status["time_zone"]
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):  # a machine without that zone's data
        zone_name, zone = "UTC", UTC
    reset = _parse(status["period_end"]).astimezone(zone)
    when = f"{reset:%Y-%m-%d %H:%M} {zone_name}"
    return (
        f"budget: {budget['name']} {_dollars(status['spend_usd'])} of {_dollars(budget['amount_usd'])} "
        f"{_PERIOD_WORDS.get(budget['period'], budget['period'])} ({status['percent']:.1f}%), "
        f"projected {_dollars(status['projected_usd'])}; "
        + (f"blocked by its hard limit until {when}" if status["blocked"] else f"resets {when}")
    )


def command_sessions(proxy: Proxy, *, limit: int) -> None:
    items = proxy.get("/api/sessions", limit=limit)["items"]
    if not items:
        print("No sessions yet.")
        return
    rows = [("STARTED (UTC)", "ENDED (UTC)", "CALLS", "COST", "SCOPE", "SOURCE", "NAME")]
    for s in items:
        if s["ended_at"]:
            ended = _moment(s["ended_at"])
        else:  # header and Claude Code sessions have no end: they just stop getting calls
            ended = "active" if s["source"] == "manual" else "-"
        rows.append(
            (
                _moment(s["started_at"]),
                ended,
                str(s["calls"]),
                _cost(s["cost_cents"]),
                _scope(s),
                s["source"],
                s["name"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [
            cell.rjust(width) if i == 2 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths))
        ]
        print("  ".join([*cells, row[-1]]))


def has_desktop(environ=os.environ, platform: str = sys.platform) -> bool:
    """Whether a browser window can be opened for the user (not over SSH, not headless)."""
    if platform == "darwin" or platform == "win32":
        return not environ.get("SSH_CONNECTION")
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def command_open(proxy: Proxy) -> None:
    link = proxy.post("/api/local/login-link")
    url = str(proxy.url.join(link["url"]))
    print(f"Dashboard (a one-time login link, valid {link.get('valid_minutes', 15)} minutes):")
    print(url)
    sys.stdout.flush()
    if has_desktop():
        webbrowser.open(url)


def command_proxy_start(*, host: str | None, port: int | None, shell: str | None) -> int:
    """Prepare var/ and the database, then become `manage.py serve` (what `make run` runs)."""
    var = var_dir()
    os.umask(0o077)  # the database, its -wal/-shm files and the keys: the user's alone
    var_dir_secure(var)
    if not os.environ.get("SECRET_KEY") and not (var / SECRET_KEY_FILE).exists():
        write_private(var / SECRET_KEY_FILE, secrets.token_urlsafe(50) + "\n")
    os.environ.setdefault("LOCAL_MODE", "1")
    os.environ.setdefault("LOCAL_ONLY", "1")
    # Usage written by a process of its own, beside the server (usage.writer).
    os.environ.setdefault("USAGE_WRITER", "1")
    manage = [sys.executable, str(ROOT / "manage.py")]
    migrated = subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=False)
    if migrated.returncode:
        return migrated.returncode
    serve = [*manage, "serve"]
    for option, value in (("--host", host), ("--port", port), ("--shell", shell)):
        if value is not None:
            serve += [option, str(value)]
    sys.stdout.flush()
    if os.name == "nt":  # no exec there: a child that keeps the console
        return subprocess.run(serve, check=False).returncode
    os.execv(sys.executable, serve)
    return 0  # not reached


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="codecosts",
        description="Run the local Codecosts proxy and group its calls into work sessions.",
    )
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    proxy = commands.add_parser("proxy", help="Run the local proxy: `codecosts proxy start`.")
    proxy_commands = proxy.add_subparsers(dest="proxy_command", required=True, metavar="start")
    start_proxy = proxy_commands.add_parser(
        "start", help="Migrate and serve on 127.0.0.1:3739 (what `make run` runs)."
    )
    start_proxy.add_argument("--port", type=int, help="Port (default PORT, else 3739).")
    start_proxy.add_argument("--host", help="Address (default HOST, else 127.0.0.1).")
    start_proxy.add_argument("--shell", help="Print the export lines for this shell.")

    start = commands.add_parser(
        "start", help="Start a work session (ending the one running in its scope)."
    )
    start.add_argument("name", help='What it is about, e.g. "Build recommendation engine".')
    start.add_argument("--endpoint", default="", help="Endpoint slug: a session for it only.")
    commands.add_parser("end", help="End the session calls join now.")
    commands.add_parser(
        "status", help="The session calls join now, its calls and cost so far, and the budget nearest its amount."
    )
    sessions = commands.add_parser("sessions", help="Recent sessions, newest first.")
    sessions.add_argument("--limit", type=int, default=20, help="How many (1-100, default 20).")
    commands.add_parser("open", help="Print (and open) a fresh one-time dashboard link.")
    for sub in (start, sessions, *[commands.choices[name] for name in ("end", "status", "open")]):
        sub.add_argument("--port", type=int, help="The proxy's port (default: where it runs).")
    return main_parser


def main(argv: list[str] | None = None) -> int:
    if (ROOT / ".env").is_file():  # as codecosts/settings.py does: the same PORT, VAR_DIR
        import environ

        environ.Env.read_env(ROOT / ".env")
    args = parser().parse_args(argv)
    try:
        if args.command == "proxy":
            return command_proxy_start(host=args.host, port=args.port, shell=args.shell)
        proxy = Proxy(server_url(args.port))
        if args.command == "start":
            command_start(proxy, name=args.name, endpoint=args.endpoint.strip())
        elif args.command == "end":
            command_end(proxy)
        elif args.command == "status":
            command_status(proxy)
        elif args.command == "sessions":
            if not 1 <= args.limit <= 100:
                raise CliError("--limit must be between 1 and 100.")
            command_sessions(proxy, limit=args.limit)
        else:
            command_open(proxy)
    except CliError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:  # var/ unreadable or unwritable, and the like
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"codecosts: {exc.strerror or exc}{where}.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
