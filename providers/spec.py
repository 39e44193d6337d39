"""The `Provider` enum and what the rest of Codecosts may ask of a provider."""

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from providers.base import UsageMeter


class Provider(enum.StrEnum):
    """A provider, as stored in `UsageLog.provider` and named in every route."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"


# Rate-limit groups: every metered call is in MESSAGES_GROUP; a provider may put other
# paths in COUNT_TOKENS_GROUP (free calls, limited on their own).
MESSAGES_GROUP = "messages"
COUNT_TOKENS_GROUP = "count_tokens"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider's routes, upstream, meters, rate-limit groups, reassemblers and errors."""

    provider: Provider
    # Under /proxy/<slug>/: "" (the endpoint's own root) or a segment such as "openai".
    mount: str
    # Local mode's route: /<local_prefix>/v1/...
    local_prefix: str
    # The Django setting that holds the upstream base URL.
    upstream_setting: str
    # Canonical path -> the meter class of a metered (logged, priced) call.
    meters: Mapping[str, type[UsageMeter]]
    # Canonical path -> rate-limit group, for calls limited apart from the metered ones.
    rate_limit_groups: Mapping[str, str]
    # Canonical path -> the function rebuilding a stream's final object.
    reassemblers: Mapping[str, Callable[[bytes], dict]]
    # (status, message, code) -> the provider's error body.
    error_body: Callable[[int, str, str | None], bytes]
    # (status, message) -> an SSE error event, for a stream that already started.
    stream_error_event: Callable[[int, str], bytes]

    def meter_for(self, path: str) -> UsageMeter | None:
        """A fresh meter for a metered call to `path` (canonical, no query), else None."""
        meter = self.meters.get(path)
        return meter() if meter is not None else None

    def rate_limit_group(self, path: str) -> str | None:
        """The rate-limit group of a call to `path`, or None when it is not limited."""
        if path in self.meters:
            return MESSAGES_GROUP
        return self.rate_limit_groups.get(path)
