"""OpenAI chat, responses and embeddings meters against wire fixtures."""

import json
import random
from pathlib import Path

import pytest

from providers.openai import meter as openai_module
from providers.openai.meter import OpenAIChatMeter, OpenAIEmbeddingsMeter, OpenAIResponsesMeter
from providers.requests import request_info
from providers.tokens import TokenUsage
from tests.providers.parsing import json_parses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "EXPECTED.json").read_text())["fixtures"]

METERS = {
    "chat": OpenAIChatMeter,
    "chat_stream": OpenAIChatMeter,
    "responses": OpenAIResponsesMeter,
    "responses_stream": OpenAIResponsesMeter,
}
PRICED = sorted(n for n, e in EXPECTED.items() if e["provider"] == "openai" and "model" in e)
STREAMS = [n for n in PRICED if n.endswith(".sse")]
BODIES = [n for n in PRICED if n.endswith(".json")]

CHAT_STREAM = "openai_chat_stream_include_usage.sse"
RESPONSES_STREAM = "openai_responses_stream.sse"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def events_of(stream: bytes) -> list[bytes]:
    return [part + b"\n\n" for part in stream.split(b"\n\n") if part]


def metered(name: str, *reads: bytes) -> TokenUsage:
    meter = METERS[EXPECTED[name]["kind"]]()
    for read in reads:
        meter.feed(read)
    return meter.usage


def assert_expected(usage: TokenUsage, name: str) -> None:
    exp = EXPECTED[name]
    assert usage.model == exp["model"]
    # OpenAI's input/prompt tokens include the cached ones; TokenUsage keeps them apart.
    assert usage.input_tokens + usage.cache_read_tokens == exp["input_tokens"]
    assert usage.cache_read_tokens == exp["cached_input_tokens"]
    assert usage.output_tokens == exp["output_tokens"]
    assert usage.reasoning_tokens == exp["reasoning_tokens"]
    assert usage.cache_write_tokens == 0
    assert usage.seen is True
    assert usage.final is True
    assert usage.error_type == ""


@pytest.mark.parametrize("name", BODIES)
def test_each_body_fixture_yields_the_expected_usage(name):
    meter = METERS[EXPECTED[name]["kind"]]()
    meter.feed_body(fixture(name))
    assert_expected(meter.usage, name)
    assert meter.usage.service_tier == "default"


def test_a_chat_body_splits_cached_tokens_out_of_prompt_tokens():
    meter = OpenAIChatMeter()
    meter.feed_body(fixture("openai_chat_nonstream.json"))
    assert (meter.usage.input_tokens, meter.usage.cache_read_tokens) == (176, 1024)
    assert meter.usage.stop_reason == "stop"


def test_a_responses_body_keeps_reasoning_inside_output_tokens():
    meter = OpenAIResponsesMeter()
    meter.feed_body(fixture("openai_responses_nonstream.json"))
    assert (meter.usage.input_tokens, meter.usage.cache_read_tokens) == (456, 1024)
    assert (meter.usage.output_tokens, meter.usage.reasoning_tokens) == (612, 448)
    assert meter.usage.stop_reason == "completed"


@pytest.mark.parametrize("name", STREAMS)
def test_each_stream_fixture_yields_the_expected_usage_when_fed_whole(name):
    assert_expected(metered(name, fixture(name)), name)


@pytest.mark.parametrize("name", STREAMS)
def test_each_stream_fixture_yields_the_expected_usage_when_fed_one_byte_at_a_time(name):
    stream = fixture(name)
    assert_expected(metered(name, *(stream[i : i + 1] for i in range(len(stream)))), name)


@pytest.mark.parametrize("name", STREAMS)
def test_each_stream_fixture_yields_the_expected_usage_when_split_in_two_anywhere(name):
    stream = fixture(name)
    for cut in range(len(stream) + 1):
        assert_expected(metered(name, stream[:cut], stream[cut:]), name)


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("per_read", [1, 2, 3, 5])
def test_each_stream_fixture_yields_the_expected_usage_with_whole_events_per_read(
    name, per_read
):
    """One event a read is how providers send: a Responses read without a wanted event
    is then passed unsplit."""
    events = events_of(fixture(name))
    reads = [b"".join(events[i : i + per_read]) for i in range(0, len(events), per_read)]
    assert len(reads) == -(-len(events) // per_read)
    assert_expected(metered(name, *reads), name)


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("size", [7, 64, 333, 1000])
def test_each_stream_fixture_yields_the_expected_usage_in_reads_straddling_events(name, size):
    stream = fixture(name)
    reads = (stream[i : i + size] for i in range(0, len(stream), size))
    assert_expected(metered(name, *reads), name)


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_crlf_and_cr_variants_of_each_stream_yield_the_same_usage(name, newline):
    stream = fixture(name).replace(b"\n", newline)
    assert_expected(metered(name, stream), name)
    assert_expected(metered(name, *(stream[i : i + 1] for i in range(len(stream)))), name)
    for cut in range(len(stream) + 1):
        assert_expected(metered(name, stream[:cut], stream[cut:]), name)


# Chat streams.


def chat_stream_without_usage() -> bytes:
    return b"".join(e for e in events_of(fixture(CHAT_STREAM)) if b'"usage":{' not in e)


def test_a_chat_stream_without_usage_leaves_usage_unseen():
    stream = chat_stream_without_usage()
    assert stream.endswith(b"data: [DONE]\n\n")
    meter = OpenAIChatMeter()
    meter.feed(stream)
    assert meter.done is True
    assert meter.usage.seen is False
    assert meter.usage.final is False
    assert (meter.usage.input_tokens, meter.usage.output_tokens) == (0, 0)
    assert meter.usage.model == "gpt-4o-mini-2024-07-18"
    assert meter.usage.stop_reason == "stop"


def test_a_chat_stream_marks_usage_final_only_when_the_usage_chunk_arrives():
    events = events_of(fixture(CHAT_STREAM))
    meter = OpenAIChatMeter()
    for event in events[:-2]:
        meter.feed(event)
        assert meter.usage.final is False
    meter.feed(events[-2])
    assert (meter.usage.seen, meter.usage.final) == (True, True)
    assert meter.done is False
    meter.feed(events[-1])
    assert meter.done is True


def test_a_chat_stream_parses_only_the_first_the_finishing_and_the_usage_chunks(monkeypatch):
    parsed = json_parses(monkeypatch, openai_module)
    meter = OpenAIChatMeter()
    meter.feed(fixture(CHAT_STREAM))
    assert meter.usage.output_tokens == 10
    assert len(parsed) == 3
    assert b'"role":"assistant"' in parsed[0]
    assert b'"finish_reason":"stop"' in parsed[1]
    assert b'"usage":{"prompt_tokens":19' in parsed[2]


def test_a_pretty_printed_usage_chunk_is_still_found():
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-4.1",
        "choices": [],
        "usage": {
            "prompt_tokens": 500,
            "completion_tokens": 40,
            "prompt_tokens_details": {"cached_tokens": 128},
            "completion_tokens_details": {"reasoning_tokens": 16},
        },
    }
    first = b'data: {"model":"gpt-4.1","choices":[{"delta":{"content":"hi"}}],"usage" : null}\n\n'
    pretty = json.dumps(chunk, indent=2).replace("\n", " ").replace('"usage":', '"usage" :')
    meter = OpenAIChatMeter()
    meter.feed(first + f"data: {pretty}\n\ndata: [DONE]\n\n".encode())
    usage = meter.usage
    assert (usage.input_tokens, usage.cache_read_tokens) == (372, 128)
    assert (usage.output_tokens, usage.reasoning_tokens) == (40, 16)
    assert usage.final is True


def test_an_error_chunk_in_a_chat_stream_records_the_error():
    meter = OpenAIChatMeter()
    meter.feed(events_of(fixture(CHAT_STREAM))[0])
    meter.feed(
        b'data: {"error": {"message": "The server had an error", "type": "server_error"}}\n\n'
    )
    assert (meter.usage.error_type, meter.usage.error_message) == (
        "server_error",
        "The server had an error",
    )
    assert meter.usage.seen is False


def test_a_chat_error_body_records_its_type_and_message():
    meter = OpenAIChatMeter()
    meter.feed_body(fixture("openai_error_429.json"))
    assert meter.usage.error_type == "tokens"
    assert meter.usage.error_message.startswith("Rate limit reached for gpt-4.1")
    assert meter.usage.seen is False


def test_an_error_body_without_a_type_falls_back_to_its_code():
    meter = OpenAIResponsesMeter()
    meter.feed_body(b'{"error": {"message": "bad key", "type": null, "code": "invalid_api_key"}}')
    assert (meter.usage.error_type, meter.usage.error_message) == ("invalid_api_key", "bad key")


# Responses streams.


def test_a_responses_stream_has_no_usage_until_response_completed():
    events = events_of(fixture(RESPONSES_STREAM))
    assert events[-1].startswith(b"event: response.completed")
    meter = OpenAIResponsesMeter()
    for event in events[:-1]:
        meter.feed(event)
    assert meter.usage.seen is False
    meter.feed(events[-1])
    assert (meter.usage.input_tokens, meter.usage.output_tokens) == (36, 12)
    assert meter.usage.stop_reason == "completed"


def response_event(kind: str, response: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, 'response': response})}\n\n".encode()


def test_response_incomplete_carries_usage_and_its_reason():
    meter = OpenAIResponsesMeter()
    meter.feed(
        response_event(
            "response.incomplete",
            {
                "model": "gpt-5",
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
                "usage": {
                    "input_tokens": 2000,
                    "input_tokens_details": {"cached_tokens": 1500},
                    "output_tokens": 64,
                    "output_tokens_details": {"reasoning_tokens": 64},
                },
            },
        )
    )
    usage = meter.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (500, 1500, 64)
    assert usage.reasoning_tokens == 64
    assert usage.stop_reason == "max_output_tokens"
    assert usage.final is True


def test_response_failed_records_the_error_and_its_usage():
    meter = OpenAIResponsesMeter()
    meter.feed(
        response_event(
            "response.failed",
            {
                "model": "gpt-5",
                "status": "failed",
                "error": {"code": "server_error", "message": "Something went wrong"},
                "usage": {"input_tokens": 10, "output_tokens": 0},
            },
        )
    )
    assert (meter.usage.error_type, meter.usage.error_message) == (
        "server_error",
        "Something went wrong",
    )
    assert (meter.usage.input_tokens, meter.usage.seen) == (10, True)


def test_an_error_event_in_a_responses_stream_records_the_error():
    meter = OpenAIResponsesMeter()
    meter.feed(
        b'event: error\ndata: {"type":"error","code":"rate_limit_exceeded",'
        b'"message":"Slow down","param":null,"sequence_number":3}\n\n'
    )
    assert (meter.usage.error_type, meter.usage.error_message) == (
        "rate_limit_exceeded",
        "Slow down",
    )
    assert meter.usage.seen is False


# Embeddings.


def test_an_embeddings_body_yields_input_tokens_only():
    meter = OpenAIEmbeddingsMeter()
    meter.feed_body(
        b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],'
        b'"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}'
    )
    usage = meter.usage
    assert usage.model == "text-embedding-3-small"
    assert (usage.input_tokens, usage.output_tokens) == (8, 0)
    assert (usage.seen, usage.final) == (True, True)


def test_an_embeddings_body_with_only_total_tokens_counts_them_as_input():
    meter = OpenAIEmbeddingsMeter()
    meter.feed_body(b'{"model":"e","usage":{"total_tokens":21}}')
    assert meter.usage.input_tokens == 21


# Requests.


def test_request_info_reads_stream_options_include_usage():
    body = b'{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true}}'
    info = request_info(body)
    assert (info.model, info.stream, info.include_usage) == ("gpt-4o-mini", True, True)


def test_request_info_without_stream_options_does_not_include_usage():
    info = request_info(
        b'{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false}}'
    )
    assert (info.stream, info.include_usage) == (True, False)
    assert request_info(b'{"model":"gpt-4o-mini","stream":true}').include_usage is False


# Never raise into the proxy.


@pytest.mark.parametrize(
    "meter_class", [OpenAIChatMeter, OpenAIResponsesMeter, OpenAIEmbeddingsMeter]
)
def test_random_garbage_never_raises_and_yields_no_usage(meter_class):
    rng = random.Random(7)
    alphabet = b'data: event:{}[]"\r\n:usage,response.completed DONE'
    for size in (1, 3, 64, 1024, 8192):
        for _ in range(15):
            noise = bytes(rng.choice(alphabet) for _ in range(size))
            binary = rng.randbytes(size)
            meter = meter_class()
            for read in (noise, binary, noise[::-1]):
                meter.feed(read)
            meter.close()
            meter.feed_body(noise)
            meter.feed_body(binary)
            assert meter.usage.seen is False
            assert meter.usage.input_tokens == 0


@pytest.mark.parametrize(
    "bad",
    [
        b'data: {"usage": {"prompt_tokens": "lots"}, "choices": 5}\n\n',
        b'data: {"usage": {"prompt_tokens_details": 3}, "choices": [null, 1]}\n\n',
        b'data: {"usage": {broken\n\n',
        b'data: {"error": {"type": ["x"]}}\n\n',
        b"data: [1, 2]\n\n",
        b"data: \xff\xfe{\n\n",
        b'event: response.completed\ndata: {"response": "done"}\n\n',
        b'event: response.completed\ndata: {"response": {"usage": [1]}}\n\n',
        b"event: error\ndata: 42\n\n",
    ],
)
def test_a_malformed_chunk_is_ignored_and_the_usage_chunk_still_counts(bad):
    events = events_of(fixture(CHAT_STREAM))
    meter = OpenAIChatMeter()
    meter.feed(b"".join(events[:2]) + bad + b"".join(events[2:]))
    assert_expected(meter.usage, CHAT_STREAM)


@pytest.mark.parametrize(
    "bad",
    [
        b'event: response.completed\ndata: {"response": "done"}\n\n',
        b'event: response.completed\ndata: {"response": {"usage": {"input_tokens": "x"}}}\n\n',
        b"event: response.failed\ndata: {oops\n\n",
        b"event: error\ndata: []\n\n",
    ],
)
def test_a_malformed_responses_event_is_ignored(bad):
    events = events_of(fixture(RESPONSES_STREAM))
    meter = OpenAIResponsesMeter()
    meter.feed(b"".join(events[:3]) + bad + b"".join(events[3:]))
    assert_expected(meter.usage, RESPONSES_STREAM)


@pytest.mark.parametrize(
    ("meter_class", "body"),
    [
        (OpenAIChatMeter, b'{"usage": {"prompt_tokens": "lots", "completion_tokens": null}}'),
        (OpenAIResponsesMeter, b'{"object": "response", "usage": {"input_tokens": "x"}}'),
        (OpenAIEmbeddingsMeter, b'{"usage": {"prompt_tokens": 1.5}}'),
    ],
)
def test_a_usage_object_without_readable_counts_is_not_seen(meter_class, body):
    meter = meter_class()
    meter.feed_body(body)
    assert (meter.usage.seen, meter.usage.final, meter.usage.input_tokens) == (False, False, 0)
