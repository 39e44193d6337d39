"""Every provider Codecosts speaks for, by `Provider`: add a provider here and in its folder."""

from providers import anthropic, openai
from providers.spec import Provider, ProviderSpec

PROVIDERS: dict[Provider, ProviderSpec] = {
    Provider.ANTHROPIC: anthropic.SPEC,
    Provider.OPENAI: openai.SPEC,
}


def spec_for(provider: str) -> ProviderSpec:
    """The provider's spec; `provider` is a `Provider` or its value (KeyError otherwise)."""
    return PROVIDERS[Provider(provider)]

