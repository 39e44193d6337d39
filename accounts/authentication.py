"""Bearer API-key authentication for the REST API."""

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from accounts.models import ApiKey, Organization
from accounts.selectors import api_key_get_by_raw_key, api_key_is_well_formed
from accounts.services import api_key_mark_used


@dataclass(frozen=True, eq=False)
class ApiKeyPrincipal:
    """`request.user` for a call made with an API key: the key's organization, no person."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def organization(self) -> Organization:
        return self.api_key.organization

    @property
    def pk(self):
        return self.api_key.pk

    id = pk

    @property
    def username(self) -> str:
        return f"api-key:{self.api_key.display_prefix}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer cc_...`.

    No Authorization header: not this scheme (returns None, so session authentication
    may still apply, and DRF answers 401 if nothing does). A header that is present
    but malformed, or a key that is unknown or revoked, fails with 401.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header.strip():
            return None
        try:
            parts = header.decode("ascii").split()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: it must be ASCII."
            ) from None
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: expected 'Bearer <api key>'."
            )
        raw_key = parts[1]
        if not api_key_is_well_formed(raw_key):
            raise exceptions.AuthenticationFailed(
                f"Invalid API key format: Codecosts API keys start with '{ApiKey.PREFIX}'."
            )
        api_key = api_key_get_by_raw_key(raw_key=raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        api_key_mark_used(api_key=api_key)
        return ApiKeyPrincipal(api_key=api_key), api_key

    def authenticate_header(self, request):
        # A value here is what makes DRF answer 401 (not 403) to unauthenticated calls.
        return f'{self.keyword} realm="api"'
