"""`manage.py serve`: the shell lines it prints, the local endpoint it sets up, its uvicorn."""

import io
import re
import shutil
import socket
import subprocess

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import Membership, Organization
from accounts.services import login_link_use
from proxy.management.commands import serve
from proxy.models import ProxyEndpoint
from proxy.shell import detect_shell, export_lines
from tests.live import free_port

URLS = {
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:3739/anthropic",
    "OPENAI_BASE_URL": "http://127.0.0.1:3739/openai/v1",
}
# Spaces, both quotes and what each shell would expand or treat as syntax.
TRICKY = 'it\'s a "test" $HOME `id` 100% & | ^ \\ !x'


@pytest.mark.parametrize(
    ("shell", "lines"),
    [
        (
            "bash",
            [
                "export ANTHROPIC_BASE_URL=http://127.0.0.1:3739/anthropic",
                "export OPENAI_BASE_URL=http://127.0.0.1:3739/openai/v1",
            ],
        ),
        (
            "zsh",
            [
                "export ANTHROPIC_BASE_URL=http://127.0.0.1:3739/anthropic",
                "export OPENAI_BASE_URL=http://127.0.0.1:3739/openai/v1",
            ],
        ),
        (
            "sh",
            [
                "export ANTHROPIC_BASE_URL=http://127.0.0.1:3739/anthropic",
                "export OPENAI_BASE_URL=http://127.0.0.1:3739/openai/v1",
            ],
        ),
        (
            "fish",
            [
                "set -x ANTHROPIC_BASE_URL http://127.0.0.1:3739/anthropic",
                "set -x OPENAI_BASE_URL http://127.0.0.1:3739/openai/v1",
            ],
        ),
        (
            "powershell",
            [
                '$env:ANTHROPIC_BASE_URL = "http://127.0.0.1:3739/anthropic"',
                '$env:OPENAI_BASE_URL = "http://127.0.0.1:3739/openai/v1"',
            ],
        ),
        (
            "cmd",
            [
                "set ANTHROPIC_BASE_URL=http://127.0.0.1:3739/anthropic",
                "set OPENAI_BASE_URL=http://127.0.0.1:3739/openai/v1",
            ],
        ),
        (
            "csh",
            [
                "setenv ANTHROPIC_BASE_URL http://127.0.0.1:3739/anthropic",
                "setenv OPENAI_BASE_URL http://127.0.0.1:3739/openai/v1",
            ],
        ),
    ],
)
def test_export_lines_set_the_base_urls_in_each_shells_syntax(shell, lines):
    assert export_lines(shell, URLS) == lines


@pytest.mark.parametrize(
    ("shell", "line"),
    [
        ("bash", "export X='it'\\''s a \"test\" $HOME `id` 100% & | ^ \\ !x'"),
        ("zsh", "export X='it'\\''s a \"test\" $HOME `id` 100% & | ^ \\ !x'"),
        ("fish", "set -x X 'it\\'s a \"test\" $HOME `id` 100% & | ^ \\\\ !x'"),
        ("csh", "setenv X 'it'\\''s a \"test\" $HOME `id` 100% & | ^ \\ \\!x'"),
        ("powershell", '$env:X = "it\'s a `"test`" `$HOME ``id`` 100% & | ^ \\ !x"'),
        ("cmd", 'set X=it\'s a ^"test^" $HOME `id` 100%^ ^& ^| ^^ \\ !x'),
    ],
)
def test_export_lines_quote_spaces_quotes_and_expansions(shell, line):
    assert export_lines(shell, {"X": TRICKY}) == [line]


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("a b", "set X=a b"),  # the rest of the line is the value, spaces included
        ("%PATH%", "set X=%^PATH%"),  # %^PATH% names no variable, then the caret goes
        ("50%&x", "set X=50%^&x"),  # the & caret also breaks the %name%
        ("a%", "set X=a%"),
        ("(x)<y>", "set X=^(x^)^<y^>"),
    ],
)
def test_cmd_lines_never_enter_quote_mode_and_never_expand_percent_names(value, line):
    assert export_lines("cmd", {"X": value}) == [line]


def test_powershell_escapes_its_typographic_quotes_too():
    assert export_lines("pwsh", {"X": "a\u201cb\u201d$c"}) == ['$env:X = "a`\u201cb`\u201d`$c"']


def test_a_leading_equals_sign_is_quoted_for_zsh():
    assert export_lines("zsh", {"X": "=x"}) == ["export X='=x'"]


@pytest.mark.parametrize(
    ("shell", "argv"),
    [
        ("bash", ["bash", "-c"]),
        ("sh", ["dash", "-c"]),
        ("zsh", ["zsh", "-f", "-c"]),
        ("fish", ["fish", "--no-config", "-c"]),
        ("csh", ["tcsh", "-f", "-c"]),
    ],
)
@pytest.mark.parametrize(
    "value",
    [URLS["OPENAI_BASE_URL"], TRICKY, "=x", "-e", "", "~/x", "$(id) ;# *?[a]{b,c}", "C:\\a b\\"],
)
def test_a_real_shell_reads_the_line_back_as_the_exact_value(shell, argv, value):
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    (line,) = export_lines(shell, {"CODECOSTS_TEST_VALUE": value})
    result = subprocess.run(
        [*argv, f"{line}\nprintenv CODECOSTS_TEST_VALUE"],
        check=False,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert (result.stdout, result.stderr) == (value + "\n", "")


@pytest.mark.parametrize(
    "bad",
    [{"X": "a\nb"}, {"X": "a\rb"}, {"1X": "a"}, {"X-Y": "a"}, {"X; rm": "a"}],
)
def test_export_lines_refuse_what_no_shell_line_can_hold_safely(bad):
    with pytest.raises(ValueError):
        export_lines("bash", bad)


def test_export_lines_refuse_an_unknown_shell():
    with pytest.raises(ValueError, match="unknown shell"):
        export_lines("nushell", URLS)


@pytest.mark.parametrize(
    ("environ", "platform", "shell"),
    [
        ({"SHELL": "/bin/bash"}, "linux", "bash"),
        ({"SHELL": "/usr/bin/zsh"}, "darwin", "zsh"),
        ({"SHELL": "/opt/homebrew/bin/fish"}, "darwin", "fish"),
        ({"SHELL": "/bin/dash"}, "linux", "sh"),
        ({"SHELL": "/bin/tcsh"}, "freebsd14", "csh"),
        ({"SHELL": "/usr/bin/pwsh"}, "linux", "powershell"),
        ({"SHELL": "/usr/bin/nu"}, "linux", "sh"),  # no syntax for it: POSIX lines
        ({}, "linux", "sh"),
        ({"PSModulePath": "C:\\Program Files\\WindowsPowerShell\\Modules"}, "win32", "powershell"),
        ({"ComSpec": "C:\\Windows\\system32\\cmd.exe"}, "win32", "cmd"),
        ({}, "win32", "cmd"),
        # Git Bash / MSYS2 set SHELL; it wins over PSModulePath, which Windows sets globally.
        ({"SHELL": "/usr/bin/bash", "PSModulePath": "C:\\x"}, "win32", "bash"),
        ({"SHELL": "C:\\Program Files\\Git\\usr\\bin\\bash.exe"}, "win32", "bash"),
    ],
)
def test_detect_shell(environ, platform, shell):
    assert detect_shell(environ, platform) == shell


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.213.7.1", False),
        ("192.168.1.10", False),
        ("no-such-host.invalid", False),
    ],
)
def test_host_is_loopback(host, loopback):
    assert serve.host_is_loopback(host) is loopback


@pytest.fixture
def local_mode(settings, tmp_path):
    settings.LOCAL_ONLY = True
    settings.LOCAL_MODE = True
    # serve leaves the `codecosts` command its key and URL there: never in the real var/.
    settings.VAR_DIR = tmp_path
    settings.HOST = "127.0.0.1"
    # A free port: the command checks it can bind before printing anything.
    settings.PORT = free_port()
    return settings


LINK = re.compile(r"^http://127\.0\.0\.1:3739(/login/link/[A-Za-z0-9_-]+)$", re.MULTILINE)


def test_serve_prints_the_exact_lines_for_the_shell_and_a_login_link(local_mode, db):
    out = io.StringIO()
    serve.serve_prepare(host="127.0.0.1", port=3739, shell="fish", stdout=out)
    text = out.getvalue()
    path = LINK.search(text).group(1)
    command, activate = serve.cli_command(), serve.activate_command("fish")
    assert LINK.sub("<link>", text) == "\n".join(
        [
            "Codecosts (local mode) on http://127.0.0.1:3739, loopback connections only.",
            "",
            (
                "Point your tools at it (fish; for another shell: "
                "--shell bash|zsh|sh|fish|csh|powershell|cmd):"
            ),
            "set -x ANTHROPIC_BASE_URL http://127.0.0.1:3739/anthropic",
            "set -x OPENAI_BASE_URL http://127.0.0.1:3739/openai/v1",
            "",
            "Or use the same `local` endpoint at its hosted-style URL:",
            "set -x ANTHROPIC_BASE_URL http://127.0.0.1:3739/proxy/local",
            "set -x OPENAI_BASE_URL http://127.0.0.1:3739/proxy/local/openai/v1",
            "",
            f"Work sessions, from another terminal (after `{activate}`: just `codecosts ...`):",
            f'  {command} start "Build recommendation engine"',
            f"  {command} status",
            f"  {command} end",
            "",
            (
                "Dashboard (a one-time login link, valid 15 minutes; "
                "`codecosts open` prints a new one):"
            ),
            "<link>",
            "",
        ]
    )
    user = login_link_use(token=path.removeprefix("/login/link/"))
    assert user is not None and user.username == "local"
    assert login_link_use(token=path.removeprefix("/login/link/")) is None  # one time


def test_serve_sets_up_the_local_endpoint_once(local_mode, db):
    for shell in ("bash", "powershell"):
        serve.serve_prepare(host="127.0.0.1", port=3739, shell=shell, stdout=io.StringIO())
    endpoint = ProxyEndpoint.objects.get(slug="local")
    membership = Membership.objects.get()
    assert (membership.organization, membership.user.username) == (endpoint.organization, "local")
    assert (Organization.objects.count(), get_user_model().objects.count()) == (1, 1)


def test_without_local_routes_the_lines_use_the_hosted_style_url(local_mode, db):
    local_mode.LOCAL_MODE = False
    out = io.StringIO()
    serve.serve_prepare(host="::1", port=4000, shell="cmd", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[3:5] == [
        "set ANTHROPIC_BASE_URL=http://[::1]:4000/proxy/local",
        "set OPENAI_BASE_URL=http://[::1]:4000/proxy/local/openai/v1",
    ]
    assert "hosted-style" not in out.getvalue()


@pytest.fixture
def uvicorn_calls(monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda **kwargs: calls.append(kwargs))
    return calls


def test_the_command_prints_then_runs_uvicorn_judging_peers_by_the_socket(
    local_mode, db, uvicorn_calls, monkeypatch
):
    monkeypatch.setenv("SHELL", "/usr/bin/zsh")
    out = io.StringIO()
    call_command("serve", stdout=out)
    port = local_mode.PORT
    assert f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{port}/anthropic\n" in out.getvalue()
    assert uvicorn_calls == [
        {
            "app": "codecosts.asgi:application",
            "host": "127.0.0.1",
            "port": port,
            "loop": "uvloop",
            "http": "httptools",
            "lifespan": "on",
            "proxy_headers": False,
            "access_log": False,
        }
    ]


def test_the_shell_option_overrides_detection(local_mode, db, uvicorn_calls, monkeypatch):
    monkeypatch.setenv("SHELL", "/bin/bash")
    out = io.StringIO()
    port = free_port()
    call_command("serve", "--shell", "pwsh", "--port", str(port), stdout=out)
    assert f'$env:OPENAI_BASE_URL = "http://127.0.0.1:{port}/openai/v1"\n' in out.getvalue()
    assert uvicorn_calls[0]["port"] == port
    with pytest.raises(CommandError, match="Unknown shell"):
        call_command("serve", "--shell", "nushell", stdout=io.StringIO())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_it_refuses_to_bind_a_non_loopback_host_while_local_only(
    local_mode, db, uvicorn_calls, host
):
    local_mode.HOST = host
    out = io.StringIO()
    with pytest.raises(
        CommandError, match=f"Refusing to listen on {re.escape(host)}: LOCAL_ONLY is on"
    ):
        call_command("serve", stdout=out)
    assert uvicorn_calls == []
    assert out.getvalue() == ""
    assert not ProxyEndpoint.objects.filter(slug="local").exists()


def test_without_local_only_it_binds_any_host_and_says_so(local_mode, db, uvicorn_calls):
    local_mode.LOCAL_ONLY = False
    out = io.StringIO()
    call_command("serve", "--host", "0.0.0.0", "--shell", "bash", stdout=out)
    assert uvicorn_calls[0]["host"] == "0.0.0.0"
    assert out.getvalue().startswith(
        f"Codecosts (local mode) on http://127.0.0.1:{local_mode.PORT}. LOCAL_ONLY is off: "
        f"anyone who can reach port {local_mode.PORT} can send calls through your `local` endpoint."
    )


def test_it_says_so_when_the_port_is_taken_before_printing_anything(local_mode, db, uvicorn_calls):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        local_mode.PORT = taken.getsockname()[1]
        out = io.StringIO()
        with pytest.raises(CommandError, match="Is Codecosts already running"):
            call_command("serve", stdout=out)
    assert (uvicorn_calls, out.getvalue()) == ([], "")
    assert not ProxyEndpoint.objects.filter(slug="local").exists()


# --- What serve leaves the `codecosts` command under var/ --------------------------------


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_serve_leaves_the_cli_a_key_and_its_url_that_only_the_user_can_read(
    local_mode, db, uvicorn_calls
):
    from accounts.selectors import api_key_get_by_raw_key

    call_command("serve", "--shell", "bash", stdout=io.StringIO())

    var = local_mode.VAR_DIR
    key = (var / "cli-key").read_text().strip()
    api_key = api_key_get_by_raw_key(raw_key=key)
    assert api_key.organization == ProxyEndpoint.objects.get(slug="local").organization
    assert api_key.is_active
    assert (var / "server-url").read_text() == f"http://127.0.0.1:{local_mode.PORT}\n"
    assert (_mode(var), _mode(var / "cli-key"), _mode(var / "server-url")) == (0o700, 0o600, 0o600)


def test_serve_keeps_a_working_cli_key_and_replaces_a_revoked_one(local_mode, db, uvicorn_calls):
    from accounts.selectors import api_key_get_by_raw_key
    from accounts.services import api_key_revoke

    key_file = local_mode.VAR_DIR / "cli-key"
    call_command("serve", "--shell", "bash", stdout=io.StringIO())
    first = key_file.read_text()
    call_command("serve", "--shell", "bash", stdout=io.StringIO())
    assert key_file.read_text() == first

    api_key_revoke(api_key=api_key_get_by_raw_key(raw_key=first.strip()))
    call_command("serve", "--shell", "bash", stdout=io.StringIO())

    renewed = key_file.read_text().strip()
    assert renewed != first.strip()
    assert api_key_get_by_raw_key(raw_key=renewed).is_active
    assert _mode(key_file) == 0o600
