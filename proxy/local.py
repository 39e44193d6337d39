"""What local mode's server leaves under var/ for the `codecosts` command (codecosts/cli.py).

- var/cli-key: a full-scope API key of the local organization, readable by the local user
  only. The command sends it as `Authorization: Bearer`, so it works through the same
  REST API as any script, whatever database the server uses.
- var/server-url: where this server listens, so the command finds a server started on
  another port without being told.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.selectors import api_key_get_by_raw_key
from accounts.services import api_key_create
from codecosts.local_files import CLI_KEY_FILE, SERVER_URL_FILE, read_text, write_private
from proxy.models import LOCAL_USERNAME, ProxyEndpoint

CLI_KEY_NAME = "codecosts command (var/cli-key)"


def _still_valid(raw_key: str | None, *, endpoint: ProxyEndpoint) -> bool:
    if not raw_key:
        return False
    api_key = api_key_get_by_raw_key(raw_key=raw_key)
    return (
        api_key is not None
        and api_key.is_active
        and api_key.organization_id == endpoint.organization_id
        # A key limited to proxied calls (ApiKey.scope "proxy") cannot drive sessions.
        and getattr(api_key, "scope", "full") == "full"
    )


@transaction.atomic
def local_cli_key_ensure(*, endpoint: ProxyEndpoint, var_dir: Path) -> bool:
    """Keep var/cli-key a working key of the `local` endpoint's organization; True if renewed.

    The key in the file is kept while it still authenticates (revoked, unknown to this
    database, or another organization's: a new one replaces it).
    """
    path = var_dir / CLI_KEY_FILE
    if _still_valid(read_text(path), endpoint=endpoint):
        return False
    user = get_user_model().objects.filter(username=LOCAL_USERNAME).first()
    _, raw_key = api_key_create(
        organization=endpoint.organization, name=CLI_KEY_NAME, created_by=user
    )
    write_private(path, raw_key + "\n")
    return True


def local_server_url_write(*, url: str, var_dir: Path) -> None:
    """Record where the server listens (var/server-url) for the `codecosts` command."""
    write_private(var_dir / SERVER_URL_FILE, url + "\n")
