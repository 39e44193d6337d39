"""The usage of one call in one vocabulary for every provider: what a meter produces."""

from dataclasses import asdict, dataclass, fields


@dataclass(slots=True)
class TokenUsage:
    """Usage of one call, normalised across providers.

    `input_tokens` never includes cache reads or writes (Anthropic's convention; OpenAI's
    prompt_tokens are split into input_tokens + cache_read_tokens). `output_tokens`
    already includes thinking/reasoning tokens; `reasoning_tokens` is only a breakdown.
    """

    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0
    web_search_requests: int = 0
    web_fetch_requests: int = 0
    inference_geo: str = ""
    service_tier: str = ""
    speed: str = ""
    stop_reason: str = ""
    # Any usage was seen at all; the provider's final usage was seen.
    seen: bool = False
    final: bool = False
    # An error reported by the provider inside a 200 response (e.g. a mid-stream event).
    error_type: str = ""
    error_message: str = ""

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def prompt_tokens(self) -> int:
        """Every input token of the request: uncached input, cache writes and cache reads."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TokenUsage":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
