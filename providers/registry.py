"""Every provider Codecosts speaks for, by `Provider`: add a provider here and in its folder."""

from providers import anthropic, openai
from providers.base import UsageMeter
from providers.spec import Provider, ProviderSpec

PROVIDERS: dict[Provider, ProviderSpec] = {
    Provider.ANTHROPIC: anthropic.SPEC,
    Provider.OPENAI: openai.SPEC,
}


def spec_for(provider: str) -> ProviderSpec:
    """The provider's spec; `provider` is a `Provider` or its value (KeyError otherwise)."""
    return PROVIDERS[Provider(provider)]


def meter_for(provider: str, path: str) -> UsageMeter | None:
    """A fresh meter for a call logged with usage, or None (count_tokens, models...).

    `path` is the upstream path without the `/proxy/<slug>` or `/openai` prefix; a query
    and one trailing slash are ignored ("/v1/messages/?beta=true" is "/v1/messages").
    """
    path = path.partition("?")[0]
    if len(path) > 1:
        path = path.removesuffix("/")
    try:
        spec = spec_for(provider.lower())
    except ValueError:
        return None
    return spec.meter_for(path)
