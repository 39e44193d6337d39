"""Anthropic: the Messages API (metered), count_tokens (limited, free) and the rest passed through."""

from providers.anthropic import errors
from providers.anthropic.meter import AnthropicMeter
from providers.anthropic.reassemble import reassemble
from providers.spec import COUNT_TOKENS_GROUP, Provider, ProviderSpec

SPEC = ProviderSpec(
    provider=Provider.ANTHROPIC,
    mount="",
    local_prefix="anthropic",
    upstream_setting="ANTHROPIC_UPSTREAM_URL",
    meters={"/v1/messages": AnthropicMeter},
    rate_limit_groups={"/v1/messages/count_tokens": COUNT_TOKENS_GROUP},
    reassemblers={"/v1/messages": reassemble},
    error_body=errors.error_body,
    stream_error_event=errors.stream_error_event,
)
