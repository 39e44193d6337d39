"""AnthropicMeter, the SSE splitter under it, and request inspection, against wire fixtures."""

import json
import random
from pathlib import Path

import pytest

from providers.anthropic import meter as anthropic_module
from providers.anthropic.meter import AnthropicMeter
from providers.openai.meter import OpenAIChatMeter, OpenAIEmbeddingsMeter, OpenAIResponsesMeter
from providers.registry import spec_for
from providers.requests import RequestInfo, request_info
from providers.sse import SSESplitter
from providers.tokens import TokenUsage
from tests.providers.parsing import json_parses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "EXPECTED.json").read_text())["fixtures"]

STREAMS = sorted(
    name
    for name, exp in EXPECTED.items()
    if exp["provider"] == "anthropic" and "model" in exp and name.endswith(".sse")
)
BODIES = sorted(
    name
    for name, exp in EXPECTED.items()
    if exp["provider"] == "anthropic" and "model" in exp and name.endswith(".json")
)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def events_of(stream: bytes) -> list[bytes]:
    """The fixture's events, each with its closing blank line."""
    return [part + b"\n\n" for part in stream.split(b"\n\n") if part]


def metered(*reads: bytes) -> TokenUsage:
    meter = AnthropicMeter()
    for read in reads:
        meter.feed(read)
    return meter.usage


def assert_expected(usage: TokenUsage, name: str) -> None:
    exp = EXPECTED[name]
    assert usage.model == exp["model"]
    assert usage.input_tokens == exp["input_tokens"]
    assert usage.output_tokens == exp["output_tokens"]
    assert usage.cache_write_5m_tokens == exp["cache_creation_5m_tokens"]
    assert usage.cache_write_1h_tokens == exp["cache_creation_1h_tokens"]
    assert usage.cache_read_tokens == exp["cache_read_tokens"]
    assert usage.web_search_requests == exp["web_search_requests"]
    assert usage.web_fetch_requests == exp.get("web_fetch_requests", 0)
    assert usage.reasoning_tokens == exp.get("thinking_tokens", 0)
    assert usage.error_type == exp.get("error_type", "")
    assert usage.seen is True
    assert usage.final is exp.get("usage_is_final", True)
    if "inference_geo" in exp:
        assert usage.inference_geo == exp["inference_geo"]
    if "stop_reason" in exp:
        assert usage.stop_reason == exp["stop_reason"]


# Streams, fed every way the network can cut them.


@pytest.mark.parametrize("name", STREAMS)
def test_each_stream_fixture_yields_the_expected_usage_when_fed_whole(name):
    assert_expected(metered(fixture(name)), name)


@pytest.mark.parametrize("name", STREAMS)
def test_each_stream_fixture_yields_the_expected_usage_when_fed_one_byte_at_a_time(name):
    stream = fixture(name)
    assert_expected(metered(*(stream[i : i + 1] for i in range(len(stream)))), name)


@pytest.mark.parametrize("name", STREAMS)
def test_each_stream_fixture_yields_the_expected_usage_when_split_in_two_anywhere(name):
    stream = fixture(name)
    for cut in range(len(stream) + 1):
        assert_expected(metered(stream[:cut], stream[cut:]), name)


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("per_read", [1, 2, 3, 5])
def test_each_stream_fixture_yields_the_expected_usage_with_whole_events_per_read(
    name, per_read
):
    """One event a read is how providers send: the reads without a wanted event (text,
    tool input, pings) are then passed unsplit."""
    events = events_of(fixture(name))
    reads = [b"".join(events[i : i + per_read]) for i in range(0, len(events), per_read)]
    assert len(reads) == -(-len(events) // per_read)
    assert_expected(metered(*reads), name)


def test_reads_of_content_events_at_rest_are_passed_unsplit_and_the_rest_are_split(monkeypatch):
    split = []
    feed = SSESplitter.feed
    monkeypatch.setattr(SSESplitter, "feed", lambda self, chunk: split.append(chunk) or feed(self, chunk))
    events = events_of(fixture("anthropic_stream_tool_use.sse"))
    assert [event[:20] for event in events[:4]] == [
        b"event: message_start", b"event: content_block", b"event: ping\ndata: {\"", b"event: content_block",
    ]
    # A read cut inside an event: the splitter holds its start, so the next read is split too.
    cut, rest = events[3][:10], events[3][10:]

    usage = metered(*events[:3], cut, rest, *events[4:])

    assert usage.output_tokens == 89 and usage.final is True
    wanted = [e for e in events[4:] if e.startswith((b"event: message_delta", b"event: message_stop"))]
    assert len(wanted) == 2
    assert split == [events[0], cut, rest, *wanted]


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("size", [7, 64, 333, 1000])
def test_each_stream_fixture_yields_the_expected_usage_in_reads_straddling_events(name, size):
    stream = fixture(name)
    assert_expected(metered(*(stream[i : i + size] for i in range(0, len(stream), size))), name)


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_crlf_and_cr_variants_of_each_stream_yield_the_same_usage(name, newline):
    stream = fixture(name).replace(b"\n", newline)
    assert b"\n" not in stream.replace(b"\r\n", b"")
    assert_expected(metered(stream), name)
    assert_expected(metered(*(stream[i : i + 1] for i in range(len(stream)))), name)
    for cut in range(len(stream) + 1):
        assert_expected(metered(stream[:cut], stream[cut:]), name)


# Non-streaming bodies.


@pytest.mark.parametrize("name", BODIES)
def test_each_body_fixture_yields_the_expected_usage(name):
    meter = AnthropicMeter()
    meter.feed_body(fixture(name))
    assert_expected(meter.usage, name)
    assert meter.usage.stop_reason == "end_turn"


def test_a_web_search_body_records_search_and_fetch_requests_and_the_us_geo():
    meter = AnthropicMeter()
    meter.feed_body(fixture("anthropic_nonstream_web_search_us.json"))
    assert (meter.usage.web_search_requests, meter.usage.web_fetch_requests) == (3, 1)
    assert meter.usage.inference_geo == "us"
    assert meter.usage.service_tier == "standard"


@pytest.mark.parametrize(
    ("name", "error_type", "message_start"),
    [
        ("anthropic_error_429.json", "rate_limit_error", "This request would exceed"),
        ("anthropic_error_400.json", "invalid_request_error", "This model does not support"),
    ],
)
def test_an_error_body_records_its_type_and_message(name, error_type, message_start):
    meter = AnthropicMeter()
    meter.feed_body(fixture(name))
    assert meter.usage.error_type == error_type
    assert meter.usage.error_message.startswith(message_start)
    assert meter.usage.seen is False


def test_a_count_tokens_body_yields_no_usage():
    meter = AnthropicMeter()
    meter.feed_body(fixture("anthropic_count_tokens_response.json"))
    assert meter.usage == TokenUsage()


# The rules of stream usage.


def test_thinking_tokens_are_recorded_as_a_breakdown_and_never_added_to_output():
    usage = metered(fixture("anthropic_stream_thinking.sse"))
    assert usage.output_tokens == 312
    assert usage.reasoning_tokens == 240


def test_message_delta_output_replaces_the_message_start_placeholder_instead_of_adding():
    usage = metered(fixture("anthropic_stream_text.sse"))
    assert usage.output_tokens == 15
    assert usage.input_tokens == 25


def test_an_error_midstream_records_overloaded_error_and_leaves_usage_not_final():
    usage = metered(fixture("anthropic_stream_error_midstream.sse"))
    assert usage.error_type == "overloaded_error"
    assert usage.error_message == "Overloaded"
    assert (usage.input_tokens, usage.output_tokens) == (1200, 1)
    assert usage.seen is True
    assert usage.final is False


def test_cache_writes_split_into_5_minute_and_1_hour_from_message_start():
    usage = metered(fixture("anthropic_stream_cache.sse"))
    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (1000, 2000)
    assert usage.cache_read_tokens == 20000
    assert usage.prompt_tokens == 50 + 3000 + 20000


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def start(usage: dict, model: str = "claude-sonnet-4-6") -> bytes:
    message = {"model": model, "usage": usage}
    return sse("message_start", {"type": "message_start", "message": message})


def delta(usage: dict, stop_reason: str | None = None) -> bytes:
    return sse(
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": usage},
    )


def test_each_message_delta_replaces_earlier_values_and_nulls_keep_them():
    usage = metered(
        start({"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 7}),
        delta({"output_tokens": 40}),
        delta({"output_tokens": 95, "input_tokens": None, "cache_read_input_tokens": None}),
    )
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (10, 95, 7)
    assert usage.final is True


def test_a_flat_cache_creation_without_the_split_counts_as_5_minute_writes():
    usage = metered(start({"input_tokens": 5, "cache_creation_input_tokens": 1200}))
    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (1200, 0)


def test_the_5_minute_share_is_the_flat_total_minus_the_1_hour_split():
    usage = metered(
        start(
            {
                "cache_creation_input_tokens": 5000,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 1,
                    "ephemeral_1h_input_tokens": 3000,
                },
            }
        )
    )
    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (2000, 3000)


def test_a_message_delta_cache_total_keeps_the_1_hour_split_from_message_start():
    usage = metered(
        start(
            {
                "cache_creation_input_tokens": 300,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 100,
                    "ephemeral_1h_input_tokens": 200,
                },
            }
        ),
        delta({"cache_creation_input_tokens": 300, "output_tokens": 9}),
    )
    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (100, 200)


def test_server_tool_use_speed_and_tier_come_from_the_latest_usage():
    usage = metered(
        start(
            {"input_tokens": 3, "server_tool_use": {"web_search_requests": 0}, "speed": "standard"}
        ),
        delta(
            {
                "output_tokens": 50,
                "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 4},
                "speed": "fast",
                "service_tier": "priority",
                "inference_geo": "us",
            },
            stop_reason="end_turn",
        ),
    )
    assert (usage.web_search_requests, usage.web_fetch_requests) == (2, 4)
    assert (usage.speed, usage.service_tier, usage.inference_geo) == ("fast", "priority", "us")
    assert usage.stop_reason == "end_turn"


def test_message_stop_alone_marks_usage_final():
    stop = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    usage = metered(start({"input_tokens": 3}), stop)
    assert usage.final is True


def test_unknown_event_types_are_ignored():
    usage = metered(
        start({"input_tokens": 3, "output_tokens": 1}),
        sse("message_gossip", {"type": "message_gossip", "usage": {"output_tokens": 999}}),
        sse("content_block_delta", {"type": "content_block_delta", "usage": {"output_tokens": 9}}),
    )
    assert usage.output_tokens == 1
    assert usage.final is False


def test_content_block_and_ping_events_are_never_json_parsed(monkeypatch):
    parsed = json_parses(monkeypatch, anthropic_module)
    usage = metered(fixture("anthropic_stream_tool_use.sse"))
    assert usage.output_tokens == 89
    assert [p[:30] for p in parsed] == [
        b'{"type":"message_start","messa',
        b'{"type":"message_delta","delta',
    ]


def test_events_without_an_event_line_are_recognised_by_their_type():
    stream = b"".join(
        line + b"\n"
        for line in fixture("anthropic_stream_text.sse").split(b"\n")
        if not line.startswith(b"event:")
    )
    usage = metered(stream)
    assert (usage.input_tokens, usage.output_tokens, usage.final) == (25, 15, True)


def test_close_meters_a_last_event_left_without_its_blank_line():
    meter = AnthropicMeter()
    meter.feed(start({"input_tokens": 4}) + delta({"output_tokens": 77}).rstrip(b"\n"))
    assert meter.usage.output_tokens == 0
    meter.close()
    assert meter.usage.output_tokens == 77


# Never raise into the proxy.


def test_random_garbage_never_raises_and_yields_no_usage():
    rng = random.Random(20251122)
    alphabet = b"event: data:{}\"\r\n:message_start,usage01"
    for size in (1, 2, 17, 256, 4096):
        for _ in range(20):
            noise = bytes(rng.choice(alphabet) for _ in range(size))
            binary = rng.randbytes(size)
            meter = AnthropicMeter()
            for read in (noise, binary, noise[: size // 2], binary[size // 2 :]):
                meter.feed(read)
            meter.close()
            meter.feed_body(binary)
            meter.feed_body(noise)
            assert meter.usage == TokenUsage()


@pytest.mark.parametrize(
    "bad",
    [
        b"event: message_start\ndata: {not json\n\n",
        b"event: message_start\ndata: [1, 2, 3]\n\n",
        b"event: message_start\ndata: {\"message\": \"nope\"}\n\n",
        b"event: message_start\ndata: {\"message\": {\"usage\": [1]}}\n\n",
        b"event: message_delta\ndata: {\"usage\": {\"output_tokens\": \"many\"}, \"delta\": 5}\n\n",
        b'event: message_delta\ndata: {"usage": {"cache_creation": 7, "server_tool_use": []}}\n\n',
        b"event: message_delta\ndata: \xff\xfe\x00\n\n",
        b"event: error\ndata: {\"error\": \"just a string\"}\n\n",
        b"event: \xff\ndata: \n\n",
        b"data\n\n:comment only\n\n\n\n\n",
    ],
)
def test_a_malformed_event_is_ignored_and_later_events_still_count(bad):
    usage = metered(
        start({"input_tokens": 11, "output_tokens": 1}), bad, delta({"output_tokens": 30})
    )
    assert (usage.input_tokens, usage.output_tokens) == (11, 30)
    assert usage.final is True


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b"{", b"\xff\xfe", b'{"usage": 5}', b'"x"'])
def test_a_malformed_body_never_raises_and_yields_no_usage(body):
    meter = AnthropicMeter()
    meter.feed_body(body)
    assert meter.usage == TokenUsage()


# The SSE splitter itself.


def split_all(*reads: bytes, splitter: SSESplitter | None = None) -> list[tuple[str, bytes]]:
    splitter = splitter or SSESplitter()
    return [event for read in reads for event in splitter.feed(read)]


def test_the_splitter_joins_multi_line_data_and_skips_comments_and_other_fields():
    events = split_all(
        b": keep-alive\nid: 7\nretry: 10\nevent: note\ndata: one\ndata:two\ndata\n\n"
    )
    assert events == [("note", b"one\ntwo\n")]


def test_the_splitter_names_an_event_without_an_event_line_with_an_empty_string():
    assert split_all(b"data: {\"a\":1}\n\ndata: [DONE]\n\n") == [("", b'{"a":1}'), ("", b"[DONE]")]


def test_the_splitter_handles_lf_crlf_and_cr_separators_mixed_in_one_stream():
    stream = b"event: a\ndata: 1\n\nevent: b\r\ndata: 2\r\n\r\nevent: c\rdata: 3\r\rdata: 4\n\r\n"
    expected = [("a", b"1"), ("b", b"2"), ("c", b"3"), ("", b"4")]
    assert split_all(stream) == expected
    for cut in range(len(stream) + 1):
        assert split_all(stream[:cut], stream[cut:]) == expected
    assert split_all(*(stream[i : i + 1] for i in range(len(stream)))) == expected


def test_a_crlf_split_between_reads_does_not_end_the_event_early():
    splitter = SSESplitter()
    assert splitter.feed(b"event: a\r") == []
    assert splitter.feed(b"\ndata: 1\r") == []
    assert splitter.feed(b"\n") == []
    # A lone "\r" already ends a line: the blank line is complete before its "\n" arrives.
    assert splitter.feed(b"\r") == [("a", b"1")]
    assert splitter.feed(b"\n") == []
    assert splitter.feed(b"data: 2\n\n") == [("", b"2")]


def test_an_event_with_no_data_line_is_not_dispatched():
    assert split_all(b"event: lonely\n\n: comment\n\n\n\n") == []


def test_every_fixture_concatenated_into_one_read_splits_into_every_event():
    streams = [fixture(name) for name in sorted(p.name for p in FIXTURES.glob("*.sse"))]
    expected = [event for stream in streams for event in split_all(stream)]
    assert len(expected) == sum(len(events_of(stream)) for stream in streams)
    joined = b"".join(streams)
    assert split_all(joined) == expected
    assert split_all(*(joined[i : i + 997] for i in range(0, len(joined), 997))) == expected


def test_an_oversized_event_is_dropped_and_the_stream_resumes_after_it():
    splitter = SSESplitter(max_event_bytes=100)
    events = split_all(
        b"data: small\n\n",
        b"data: " + b"x" * 80,
        b"y" * 80,
        b"z" * 500 + b"\n",
        b"\ndata: next\n\n",
        splitter=splitter,
    )
    assert events == [("", b"small"), ("", b"next")]
    assert len(splitter._buf) == 0


def test_the_splitter_keeps_only_the_unfinished_tail():
    splitter = SSESplitter()
    stream = fixture("anthropic_stream_tool_use.sse") * 20
    for i in range(0, len(stream), 50):
        splitter.feed(stream[i : i + 50])
        assert len(splitter._buf) < 700


def test_flush_returns_the_pending_event_at_end_of_stream():
    splitter = SSESplitter()
    assert splitter.feed(b"event: a\ndata: 1\n\nevent: b\ndata: 2") == [("a", b"1")]
    assert splitter.flush() == [("b", b"2")]
    assert splitter.flush() == []


# Request inspection.


def test_request_info_reads_model_stream_and_a_json_user_id_session():
    user_id = json.dumps(
        {
            "device_id": "1f3a",
            "account_uuid": "acc-1",
            "session_id": "3b9f0c52-8d41-4c1e-9a7b-2f6e5d4c3b2a",
        }
    )
    body = json.dumps(
        {"model": "claude-opus-4-8", "stream": True, "metadata": {"user_id": user_id}}
    ).encode()
    info = request_info(body)
    assert info == RequestInfo(
        model="claude-opus-4-8",
        stream=True,
        metadata_user_id=user_id,
        claude_code_session_id="3b9f0c52-8d41-4c1e-9a7b-2f6e5d4c3b2a",
        include_usage=False,
    )


def test_request_info_reads_the_legacy_claude_code_user_id_session():
    user_id = (
        "user_" + "ab12" * 16 + "_account_9c0d7e1f-2a3b-4c5d-8e9f-0a1b2c3d4e5f"
        "_session_5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
    )
    info = request_info(json.dumps({"model": "m", "metadata": {"user_id": user_id}}).encode())
    assert info.claude_code_session_id == "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
    assert info.metadata_user_id == user_id
    assert info.stream is False


def test_request_info_finds_no_session_in_an_ordinary_user_id():
    info = request_info(b'{"model": "m", "metadata": {"user_id": "alice@example.com"}}')
    assert (info.metadata_user_id, info.claude_code_session_id) == ("alice@example.com", "")


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"not json", b"[1,2]", b"null", b"\xff\xfe", b'{"model": 5, "stream": "yes"}'],
)
def test_request_info_of_an_unreadable_body_is_empty(body):
    assert request_info(body) == RequestInfo()


# Which meter for which call.


@pytest.mark.parametrize(
    ("provider", "path", "meter"),
    [
        ("anthropic", "/v1/messages", AnthropicMeter),
        ("anthropic", "/v1/messages/count_tokens", None),
        ("anthropic", "/v1/models", None),
        ("openai", "/v1/chat/completions", OpenAIChatMeter),
        ("openai", "/v1/responses", OpenAIResponsesMeter),
        ("openai", "/v1/embeddings", OpenAIEmbeddingsMeter),
        ("openai", "/v1/models", None),
        ("openai", "/v1/messages", None),
    ],
)
def test_meter_for_maps_logged_paths_to_a_fresh_meter(provider, path, meter):
    """Paths are canonical here (proxy.paths): no query, no trailing slash."""
    found = spec_for(provider).meter_for(path)
    if meter is None:
        assert found is None
    else:
        assert type(found) is meter
        assert found.usage == TokenUsage()
        assert spec_for(provider).meter_for(path) is not found


def test_an_unknown_provider_has_no_spec():
    with pytest.raises(ValueError):
        spec_for("other")
