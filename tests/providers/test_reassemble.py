"""Rebuilding final response objects from raw SSE streams, for the log detail view."""

import json
from pathlib import Path

import pytest

from providers.anthropic.reassemble import reassemble
from providers.openai.reassemble import reassemble_chat, reassemble_responses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "EXPECTED.json").read_text())["fixtures"]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# Anthropic.


def test_a_tool_use_stream_rebuilds_the_text_and_the_parsed_tool_input():
    message = reassemble(fixture("anthropic_stream_tool_use.sse"))
    assert message["id"] == "msg_014p7gG3wDgGV9EUtLvnow3U"
    assert message["model"] == "claude-opus-4-8"
    assert message["role"] == "assistant"
    assert message["stop_reason"] == "tool_use"
    text, tool = message["content"]
    assert text == {"type": "text", "text": "Okay, let's check the weather for San Francisco, CA:"}
    assert tool["type"] == "tool_use"
    assert tool["id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert tool["name"] == "get_weather"
    assert tool["input"] == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert tool["input"] == EXPECTED["anthropic_stream_tool_use.sse"]["tool_input"]
    assert (message["usage"]["input_tokens"], message["usage"]["output_tokens"]) == (472, 89)


def test_a_text_stream_rebuilds_its_text_and_final_usage():
    message = reassemble(fixture("anthropic_stream_text.sse"))
    assert message["content"] == [{"type": "text", "text": "Hello!"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["output_tokens"] == 15
    assert message["usage"]["input_tokens"] == 25


def test_a_thinking_stream_rebuilds_the_thinking_with_its_signature():
    message = reassemble(fixture("anthropic_stream_thinking.sse"))
    thinking, text = message["content"]
    assert thinking["thinking"] == (
        "I need to compute 27 * 453.\n\n27 * 453 = 27 * 400 + 27 * 53 = 10800 + 1431 = 12231."
    )
    assert thinking["signature"].startswith("EqQBCgIYAhIM1gbcDa9GJwZA2b3h")
    assert text == {"type": "text", "text": "27 * 453 = **12,231**"}
    assert message["usage"]["output_tokens_details"] == {"thinking_tokens": 240}


def test_a_crlf_stream_rebuilds_the_same_message():
    stream = fixture("anthropic_stream_tool_use.sse")
    assert reassemble(stream.replace(b"\n", b"\r\n")) == reassemble(stream)


def test_an_error_midstream_keeps_the_text_so_far_and_the_error():
    message = reassemble(fixture("anthropic_stream_error_midstream.sse"))
    assert message["content"] == [
        {"type": "text", "text": "Here is a summary of the first three sections:"}
    ]
    assert message["stop_reason"] is None
    assert message["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_a_stream_cut_inside_the_tool_input_keeps_the_partial_json():
    stream = fixture("anthropic_stream_tool_use.sse")
    cut = stream.index(b'"partial_json":", \\"unit')
    message = reassemble(stream[:cut])
    text, tool = message["content"]
    assert text["text"] == "Okay, let's check the weather for San Francisco, CA:"
    assert tool["input"] == {}
    assert tool["partial_json"] == '{"location": "San Francisco, CA"'
    assert message["stop_reason"] is None
    assert message["usage"]["output_tokens"] == 2


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("anthropic_stream_*.sse")))
def test_a_stream_cut_anywhere_rebuilds_what_it_has(name):
    stream = fixture(name)
    full = reassemble(stream)
    for cut in range(len(stream) + 1):
        message = reassemble(stream[:cut])
        assert len(message["content"]) <= len(full["content"])
    assert reassemble(b"") == {
        "id": "",
        "type": "message",
        "role": "assistant",
        "model": "",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {},
    }


def test_reassembly_of_garbage_returns_an_empty_message():
    message = reassemble(b"\x00\xff event: content_block_delta\ndata: {\"index\": 9}\n\n:\r\r")
    assert message["content"] == []


# OpenAI chat.


def test_a_chat_stream_rebuilds_the_completion_with_usage():
    completion = reassemble_chat(fixture("openai_chat_stream_include_usage.sse"))
    assert completion["object"] == "chat.completion"
    assert completion["id"] == "chatcmpl-CHm4Tb1xKdP8sRz3QwE7nUv2Lf9Ya"
    assert completion["model"] == "gpt-4o-mini-2024-07-18"
    assert completion["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help?"},
            "finish_reason": "stop",
        }
    ]
    assert completion["usage"]["prompt_tokens"] == 19
    assert completion["usage"]["completion_tokens"] == 10


def chunk(delta: dict, finish_reason: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-t",
        "object": "chat.completion.chunk",
        "model": "gpt-4.1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def test_a_chat_stream_concatenates_tool_call_arguments_by_index():
    stream = b"".join(
        [
            chunk({"role": "assistant", "content": None}),
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"location": "San'}}]}),
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": "{}"},
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' Francisco, CA"}'}}]}),
            chunk({}, finish_reason="tool_calls"),
            b"data: [DONE]\n\n",
        ]
    )
    completion = reassemble_chat(stream)
    (choice,) = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    first, second = choice["message"]["tool_calls"]
    assert first == {
        "id": "call_a",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location": "San Francisco, CA"}'},
    }
    assert json.loads(first["function"]["arguments"]) == {"location": "San Francisco, CA"}
    assert second["function"] == {"name": "get_time", "arguments": "{}"}
    assert completion["usage"] is None


def test_a_truncated_chat_stream_keeps_the_content_so_far():
    stream = fixture("openai_chat_stream_include_usage.sse")
    cut = stream.index(b'" How can I help?"')
    completion = reassemble_chat(stream[:cut])
    assert completion["choices"][0]["message"]["content"] == "Hello!"
    assert completion["choices"][0]["finish_reason"] is None
    assert completion["usage"] is None


# OpenAI responses.


def test_a_responses_stream_returns_the_completed_response_object():
    response = reassemble_responses(fixture("openai_responses_stream.sse"))
    assert response["status"] == "completed"
    assert response["id"] == "resp_68f1c2a3b4d5e6f708192a3b4c5d6e7f0011223344556677"
    assert response["output"][0]["content"][0]["text"] == "Hi! How can I help you today?"
    assert response["usage"]["input_tokens"] == 36
    assert response["usage"]["output_tokens"] == 12


def test_a_truncated_responses_stream_returns_the_output_text_so_far():
    stream = fixture("openai_responses_stream.sse")
    cut = stream.rindex(b"event:", 0, stream.index(b'"delta":" help"'))
    response = reassemble_responses(stream[:cut])
    assert response["status"] == "in_progress"
    assert response["usage"] is None
    assert response["output_text"] == "Hi! How can I"
    assert response["output"][0]["content"] == [
        {"type": "output_text", "annotations": [], "text": "Hi! How can I"}
    ]


def test_a_responses_stream_cut_after_its_items_uses_the_finished_items():
    stream = fixture("openai_responses_stream.sse")
    response = reassemble_responses(stream[: stream.index(b"event: response.completed")])
    assert response["output"][0]["status"] == "completed"
    assert response["output_text"] == "Hi! How can I help you today?"


def test_reassembly_of_an_empty_responses_stream_is_empty():
    assert reassemble_responses(b"") == {"output": [], "output_text": ""}
