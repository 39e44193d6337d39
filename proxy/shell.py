"""Lines that set environment variables in the user's shell, ready to copy and paste.

`manage.py serve` prints the base URLs this way (DESIGN §6: `make run` prints the base URLs
to export). Pure functions: no I/O, the environment and platform are passed in.
"""

import ntpath
import posixpath
import re

# Canonical shell names; detect_shell returns one of them, export_lines takes any of them
# (or an alias below).
SHELLS = ("bash", "zsh", "sh", "fish", "csh", "powershell", "cmd")
_ALIASES = {
    "pwsh": "powershell",
    "tcsh": "csh",
    "dash": "sh",
    "ash": "sh",
    "ksh": "sh",
    "mksh": "sh",
    "yash": "sh",
    "busybox": "sh",
}
_POSIX = frozenset({"bash", "zsh", "sh"})

# Characters that need no quoting: the same set as shlex.quote, safe in every shell here.
_SAFE = re.compile(r"[\w@%+=:,./-]+", re.ASCII)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
# Characters cmd.exe treats specially at the prompt; each is escaped with a caret.
_CMD_SPECIAL = frozenset('^&|<>()"')
# PowerShell reads these as double quotes too (and ` as its escape, $ as expansion).
_POWERSHELL_ESCAPED = frozenset('`$"\u201c\u201d\u201e')


def shell_name(name: str) -> str | None:
    """The canonical name of a shell ("/usr/bin/zsh", "pwsh.exe" → "zsh", "powershell"), or None."""
    base = ntpath.basename(posixpath.basename(name.strip())).lower()
    base = base.removesuffix(".exe")
    base = base.removeprefix("-")  # a login shell's argv[0], e.g. "-bash"
    base = _ALIASES.get(base, base)
    return base if base in SHELLS else None


def detect_shell(environ, platform: str) -> str:
    """The shell the user most likely typed the command in, from the environment.

    POSIX: the basename of SHELL. Windows: SHELL when set (Git Bash, MSYS2 and Cygwin set
    it), else PowerShell when PSModulePath is present, else cmd. Falls back to "sh" (or
    "cmd" on Windows) for a shell this module has no syntax for.
    """
    windows = platform.startswith("win")
    name = shell_name(environ.get("SHELL") or "")
    if name is not None:
        return name
    if windows:
        return "powershell" if environ.get("PSModulePath") else "cmd"
    return "sh"


def export_lines(shell: str, variables: dict[str, str]) -> list[str]:
    """One line per variable that sets and exports it in `shell`, quoted only when needed."""
    name = shell_name(shell)
    if name is None:
        raise ValueError(f"unknown shell {shell!r}; expected one of {', '.join(SHELLS)}")
    lines = []
    for variable, value in variables.items():
        if not _NAME.fullmatch(variable):
            raise ValueError(f"not a portable environment variable name: {variable!r}")
        if any(ord(c) < 0x20 or c == "\x7f" for c in value):
            raise ValueError(f"{variable}: control characters cannot be pasted into a shell")
        lines.append(_LINE[name](variable, value))
    return lines


def _posix(variable: str, value: str) -> str:
    return f"export {variable}={_posix_quote(value)}"


def _posix_quote(value: str) -> str:
    # zsh expands a leading = (EQUALS) even in an assignment.
    if _SAFE.fullmatch(value) and not value.startswith("="):
        return value
    # Inside single quotes nothing is special; a quote ends, is escaped, and reopens.
    return "'" + value.replace("'", "'\\''") + "'"


def _fish(variable: str, value: str) -> str:
    if _SAFE.fullmatch(value):
        return f"set -x {variable} {value}"
    # fish single quotes: only \ and ' are special, each escaped with a backslash.
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"set -x {variable} '{quoted}'"


def _csh(variable: str, value: str) -> str:
    if _SAFE.fullmatch(value):
        return f"setenv {variable} {value}"
    # csh single quotes: ' is escaped as in sh; ! (history) still needs a backslash.
    quoted = value.replace("'", "'\\''").replace("!", "\\!")
    return f"setenv {variable} '{quoted}'"


def _powershell(variable: str, value: str) -> str:
    # Double-quoted string: ` escapes, $ would expand, and the typographic double quotes
    # close the string like ". Each gets a backtick.
    quoted = "".join("`" + c if c in _POWERSHELL_ESCAPED else c for c in value)
    return f'$env:{variable} = "{quoted}"'


def _cmd(variable: str, value: str) -> str:
    # Never quoted: with `set "X=..."` an inner " would turn caret escapes off. Instead
    # every special character, " included, is escaped with ^ so the line never enters
    # quote mode. A % that could start a %NAME% expansion is followed by ^, which makes
    # the name undefined (left as typed at the prompt) and is then removed; a % followed
    # by a special character is already protected by that character's own caret.
    out = []
    for index, char in enumerate(value):
        if char in _CMD_SPECIAL:
            out.append("^" + char)
        elif char == "%":
            following = value[index + 1 : index + 2]
            out.append("%" if not following or following in _CMD_SPECIAL else "%^")
        else:
            out.append(char)
    return f"set {variable}={''.join(out)}"


_LINE = {
    "bash": _posix,
    "zsh": _posix,
    "sh": _posix,
    "fish": _fish,
    "csh": _csh,
    "powershell": _powershell,
    "cmd": _cmd,
}
