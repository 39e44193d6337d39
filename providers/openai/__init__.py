"""OpenAI: Chat Completions, Responses and Embeddings (metered); the rest passed through."""

from providers.openai import errors
from providers.openai.meter import OpenAIChatMeter, OpenAIEmbeddingsMeter, OpenAIResponsesMeter
from providers.openai.reassemble import reassemble_chat, reassemble_responses
from providers.spec import Provider, ProviderSpec

SPEC = ProviderSpec(
    provider=Provider.OPENAI,
    mount="openai",
    local_prefix="openai",
    upstream_setting="OPENAI_UPSTREAM_URL",
    meters={
        "/v1/chat/completions": OpenAIChatMeter,
        "/v1/responses": OpenAIResponsesMeter,
        "/v1/embeddings": OpenAIEmbeddingsMeter,
    },
    rate_limit_groups={},
    reassemblers={"/v1/chat/completions": reassemble_chat, "/v1/responses": reassemble_responses},
    error_body=errors.error_body,
    stream_error_event=errors.stream_error_event,
)
