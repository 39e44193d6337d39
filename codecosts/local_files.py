"""The files under var/ that local mode's server writes and the `codecosts` command reads.

No Django here: the command imports this without setting Django up. var/ holds the
SQLite database, the secret key and the command's API key, so it is the local user's
alone: the directory 0700, each file 0600.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A full-scope API key of the local organization; the command sends it as a bearer key.
CLI_KEY_FILE = "cli-key"
# The running server's base URL, e.g. http://127.0.0.1:3739 (written at each start).
SERVER_URL_FILE = "server-url"
SECRET_KEY_FILE = "secret_key"


def var_dir(environ=os.environ) -> Path:
    """VAR_DIR, else the repository's var/ (as codecosts.settings has it)."""
    return Path(environ.get("VAR_DIR") or ROOT / "var")


def var_dir_secure(path: Path) -> None:
    """Create var/ if needed; make it 0700 and what lies directly in it 0600 (dirs 0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "nt":  # POSIX modes mean little there; the user profile protects it.
        return
    os.chmod(path, 0o700)
    for entry in path.iterdir():
        if entry.is_symlink():
            continue
        os.chmod(entry, 0o700 if entry.is_dir() else 0o600)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by this user only, replacing any file there at once."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # O_EXCL and mode 0600 from the first byte: never readable by others, even briefly.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_text(path: Path) -> str | None:
    """The stripped content of a file, or None when it does not exist or cannot be read."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
