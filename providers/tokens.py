"""The usage of one call in one vocabulary for every provider: what a meter produces."""

from dataclasses import dataclass, field, fields


@dataclass(slots=True)
class TokenUsage:
    """Usage of one call, normalised across providers.

    `input_tokens` never includes cache reads or writes (Anthropic's convention; OpenAI's
    prompt_tokens are split into input_tokens + cache writes + cache_read_tokens).
    `output_tokens` already includes thinking/reasoning tokens; `reasoning_tokens` is only
    a breakdown.

    The token fields are the response's top-level usage. Work billed apart from it
    (Anthropic's `usage.iterations`: advisor calls, compaction, fallback attempts) is kept
    in `iterations`, one dict per entry with the keys of ITERATION_KEYS; usage.pricing
    decides what each part costs.
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
    # Anthropic: the model the request asked for (a stream's message_start echoes it; a
    # body names the model that served it), which also writes the compaction summaries.
    request_model: str = ""
    # Anthropic `stop_details` ({"type": "refusal", "category": ...}); {} when null.
    stop_details: dict = field(default_factory=dict)
    # Anthropic `usage.iterations`, normalised (ITERATION_KEYS); [] when absent.
    iterations: list = field(default_factory=list)
    # Anthropic server-side fallback: one {"from", "to", "category"} per declined hop, in
    # order, from the response's `fallback` content blocks.
    fallbacks: list = field(default_factory=list)
    # Any usage was seen at all; the provider's final usage was seen.
    seen: bool = False
    final: bool = False
    # An error reported by the provider inside a 200 response (e.g. a mid-stream event).
    error_type: str = ""
    error_message: str = ""

    @property
    def refusal_category(self) -> str | None:
        """The refusal's policy category (None for a null one), for a `refusal` stop."""
        return self.stop_details.get("category")

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def prompt_tokens(self) -> int:
        """Every input token of the request: uncached input, cache writes and cache reads."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    def to_dict(self) -> dict:
        """What dataclasses.asdict gives (containers copied), in a fifth of its time: the
        usage shipper makes one per call."""
        data = {name: getattr(self, name) for name in _NAMES}
        data["stop_details"] = dict(self.stop_details)
        data["iterations"] = [dict(entry) for entry in self.iterations]
        data["fallbacks"] = [dict(hop) for hop in self.fallbacks]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TokenUsage":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


_NAMES = tuple(f.name for f in fields(TokenUsage))

# The keys of one normalised `TokenUsage.iterations` entry.
ITERATION_KEYS = (
    "type",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
)
