"""`manage.py serve`: local mode's server, what `make run` starts after migrating.

It makes sure the `local` endpoint exists, prints the lines that point the user's tools at
it (in the syntax of their shell), the `codecosts` commands to type next and a dashboard
link, leaves the `codecosts` command its key and this server's URL under var/
(proxy/local.py), then runs uvicorn in this process, and beside it the process that
writes its usage (USAGE_WRITER, usage.writer). Nothing slow happens before uvicorn
binds: a second `make run` starts in seconds.
"""

import importlib.util
import ipaddress
import os
import socket
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from codecosts.local_files import var_dir_secure
from proxy.shell import SHELLS, detect_shell, export_lines, shell_name


def host_is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback one (127.0.0.0/8, ::1)."""
    host = host.strip().removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0].partition("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def port_in_use(host: str, port: int) -> OSError | None:
    """Why host:port cannot be bound right now (another server on it), or None."""
    host = host.strip().removeprefix("[").removesuffix("]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if sys.platform != "win32":  # as uvicorn binds; on Windows it would allow a steal
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def base_url(host: str, port: int) -> str:
    """The URL users type for a server bound to host:port."""
    host = host.strip().removeprefix("[").removesuffix("]")
    # A wildcard bind is reached through loopback from this machine.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def base_url_variables(base: str, *, local_routes: bool) -> dict[str, str]:
    """ANTHROPIC_BASE_URL and OPENAI_BASE_URL for the `local` endpoint.

    The Anthropic SDKs and Claude Code append /v1/messages to their base URL; the OpenAI
    SDKs append /chat/completions, so theirs ends in /v1.
    """
    if local_routes:
        return {"ANTHROPIC_BASE_URL": f"{base}/anthropic", "OPENAI_BASE_URL": f"{base}/openai/v1"}
    return {
        "ANTHROPIC_BASE_URL": f"{base}/proxy/local",
        "OPENAI_BASE_URL": f"{base}/proxy/local/openai/v1",
    }


def dashboard_link(*, base: str) -> str:
    """A one-time link that signs the local user in to the dashboard."""
    from django.contrib.auth import get_user_model

    from accounts.services import login_link_create
    from proxy.models import LOCAL_USERNAME

    user = get_user_model().objects.get(username=LOCAL_USERNAME)
    return base + login_link_create(user=user)


def _beside_python(name: str) -> str:
    """A file beside this Python (`make run`'s .venv/bin), relative to here when inside it."""
    path = Path(sys.executable).parent / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cli_command() -> str:
    """How to type the `codecosts` command installed into this Python's environment."""
    return _beside_python("codecosts.exe" if os.name == "nt" else "codecosts")


def activate_command(shell: str) -> str:
    """The line that activates this Python's virtual environment in `shell`."""
    if shell == "powershell":
        return _beside_python("Activate.ps1")
    if shell == "cmd":
        return _beside_python("activate.bat")
    suffix = {"fish": ".fish", "csh": ".csh"}.get(shell, "")
    return f"source {_beside_python('activate' + suffix)}"


def serve_prepare(*, host: str, port: int, shell: str, stdout):
    """Set up the `local` endpoint and print how to use it (serve, but serving); return it."""
    from accounts.models import LoginLink
    from proxy.services import local_setup

    endpoint = local_setup()
    base = base_url(host, port)
    local_routes = settings.LOCAL_MODE
    if settings.LOCAL_ONLY:
        out = [f"Codecosts (local mode) on {base}, loopback connections only.", ""]
    elif host_is_loopback(host):
        out = [f"Codecosts (local mode) on {base}.", ""]
    else:
        out = [
            (
                f"Codecosts (local mode) on {base}. LOCAL_ONLY is off: anyone who can reach "
                f"port {port} can send calls through your `local` endpoint."
            ),
            "",
        ]
    out += [
        f"Point your tools at it ({shell}; for another shell: --shell {'|'.join(SHELLS)}):",
        *export_lines(shell, base_url_variables(base, local_routes=local_routes)),
    ]
    if local_routes:
        out += [
            "",
            "Or use the same `local` endpoint at its hosted-style URL:",
            *export_lines(shell, base_url_variables(base, local_routes=False)),
        ]
    command = cli_command()
    activate = activate_command(shell)
    minutes = LoginLink.LIFETIME_MINUTES
    out += [
        "",
        f"Work sessions, from another terminal (after `{activate}`: just `codecosts ...`):",
        f'  {command} start "Build recommendation engine"',
        f"  {command} status",
        f"  {command} end",
        "",
        (
            f"Dashboard (a one-time login link, valid {minutes} minutes; "
            "`codecosts open` prints a new one):"
        ),
        dashboard_link(base=base),
        "",
    ]
    stdout.write("\n".join(out))
    return endpoint


def uvicorn_options(*, host: str, port: int) -> dict:
    """uvicorn.run's arguments for serving the product in this process."""
    return {
        "app": "codecosts.asgi:application",
        "host": host,
        "port": port,
        # uvloop has no Windows build; httptools may be missing on exotic platforms.
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "lifespan": "on",
        # LOCAL_ONLY judges the socket peer: never let X-Forwarded-For rewrite it.
        "proxy_headers": False,
        "access_log": False,
    }


class Command(BaseCommand):
    help = (
        "Serve Codecosts in local mode: set up the `local` endpoint, print the lines that "
        "point ANTHROPIC_BASE_URL and OPENAI_BASE_URL at it, and run the ASGI server."
    )
    # `make run` has just run migrate, which ran the system checks.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--shell",
            help=f"Print the lines for this shell ({', '.join(SHELLS)}); default: detected.",
        )
        parser.add_argument("--host", help=f"Address to listen on (default HOST, {settings.HOST}).")
        parser.add_argument("--port", type=int, help=f"Port (default PORT, {settings.PORT}).")

    def handle(self, *args, shell=None, host=None, port=None, **options):
        host = host or settings.HOST
        port = settings.PORT if port is None else port
        if settings.LOCAL_ONLY and not host_is_loopback(host):
            raise CommandError(
                f"Refusing to listen on {host}: LOCAL_ONLY is on, so only loopback addresses "
                "(127.0.0.1, ::1, localhost) may be bound. Set HOST=127.0.0.1, or LOCAL_ONLY=0 "
                "to serve other machines (then anyone who can reach the port can use it)."
            )
        if error := port_in_use(host, port):
            # Before printing a login link for a server that will not start.
            raise CommandError(
                f"Cannot listen on {host}:{port} ({error.strerror}). Is Codecosts already "
                "running? Stop it, or choose another port with PORT=... (or --port)."
            )
        if shell is None:
            shell = detect_shell(os.environ, sys.platform)
        elif shell_name(shell) is None:
            raise CommandError(f"Unknown shell {shell!r}; choose one of: {', '.join(SHELLS)}.")
        else:
            shell = shell_name(shell)
        from proxy.local import local_cli_key_ensure, local_server_url_write

        endpoint = serve_prepare(host=host, port=port, shell=shell, stdout=self.stdout)
        var_dir = Path(settings.VAR_DIR)
        var_dir_secure(var_dir)
        local_cli_key_ensure(endpoint=endpoint, var_dir=var_dir)
        local_server_url_write(url=base_url(host, port), var_dir=var_dir)
        self.stdout.flush()

        import uvicorn

        writer = None
        if settings.CELERY_TASK_ALWAYS_EAGER and settings.USAGE_WRITER:
            from usage.writer import WriterSupervisor

            writer = WriterSupervisor()
            writer.start()
        try:
            uvicorn.run(**uvicorn_options(host=host, port=port))
        finally:
            if writer is not None:
                # After uvicorn's shutdown, which delivered the last batches.
                writer.stop()
