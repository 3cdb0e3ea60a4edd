"""The scripted Messages API server, exercised through the real anthropic SDK over HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import anthropic
import pytest

from tests.messages_api.server import Expect, Failure, MessagesServer, Reply, Turn, Usage, call

MODEL = "claude-sonnet-5-5"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather of a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
QUESTION: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]

pytestmark = pytest.mark.timeout(10)


def ask(client: anthropic.Anthropic, messages: list[Any] = QUESTION, **extra: Any) -> anthropic.types.Message:
    return client.messages.create(model=MODEL, max_tokens=256, messages=messages, **extra)


def test_a_text_reply_carries_the_scripted_usage_and_the_request_is_recorded(messages_api: MessagesServer) -> None:
    messages_api.script(
        Turn(expect=Expect(model=MODEL, system_contains="terse"),
             reply=Reply(text="Sunny.", usage=Usage(input_tokens=12, output_tokens=3))),
        Turn(reply=Reply(text="Sunny and", stop_reason="max_tokens")),
    )
    client = messages_api.client()
    message = ask(client, system="Be terse.")
    assert message.content[0].type == "text" and message.content[0].text == "Sunny."
    assert message.stop_reason == "end_turn" and message.model == MODEL
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 3)
    truncated = ask(client)
    assert truncated.stop_reason == "max_tokens" and truncated.usage.input_tokens > 0
    messages_api.assert_done()
    first = messages_api.requests[0]
    assert first.path == "/v1/messages" and first.body["system"] == "Be terse." and first.body["max_tokens"] == 256
    assert first.headers["anthropic-version"] and first.headers["authorization"] == "Bearer test-key"


def test_a_tool_call_round_trip_checks_the_offered_tools_and_the_returned_results(messages_api: MessagesServer) -> None:
    messages_api.script(
        Turn(expect=Expect(tools={"get_weather"}),
             reply=Reply(text="Let me look.", tool_calls=[call("get_weather", city="Paris")])),
        Turn(expect=Expect(tools={"get_weather"}, tool_results=True, tool_error_contains="station offline"),
             reply=Reply(text="The station is offline.")),
    )
    client = messages_api.client()
    first = ask(client, tools=[WEATHER])
    assert first.stop_reason == "tool_use"
    tool_use = first.content[1]
    assert tool_use.type == "tool_use" and tool_use.name == "get_weather" and tool_use.input == {"city": "Paris"}
    assert tool_use.id.startswith("toolu_")
    answer = {"type": "tool_result", "tool_use_id": tool_use.id, "is_error": True, "content": "station offline since 9:00"}
    final = ask(client, [*QUESTION, {"role": "assistant", "content": first.content}, {"role": "user", "content": [answer]}],
                tools=[WEATHER])
    assert final.stop_reason == "end_turn" and final.content[0].text == "The station is offline."
    messages_api.assert_done()


def test_a_429_is_retried_by_the_sdk_after_the_announced_delay(messages_api: MessagesServer) -> None:
    messages_api.script(
        Turn(failure=Failure(status=429, error_type="rate_limit_error", message="slow down", retry_after=0.2)),
        Turn(reply=Reply(text="Sunny.")),
    )
    started = time.monotonic()
    assert ask(messages_api.client(max_retries=2)).content[0].text == "Sunny."
    assert 0.2 <= time.monotonic() - started < 1.5, "the SDK waits retry-after-ms, not its own 0.5 s+ backoff"
    messages_api.assert_done()
    assert [r.headers["x-stainless-retry-count"] for r in messages_api.requests] == ["0", "1"]


@pytest.mark.parametrize(("status", "error_type", "raised"), [
    (529, "overloaded_error", anthropic.OverloadedError),
    (500, "api_error", anthropic.InternalServerError),
])
def test_server_errors_are_retried_and_raised_once_retries_run_out(
    messages_api: MessagesServer, status: int, error_type: str, raised: type[Exception],
) -> None:
    failure = Turn(failure=Failure(status=status, error_type=error_type, message="try later"))
    messages_api.script(failure, Turn(reply=Reply(text="Sunny.")), failure, failure)
    client = messages_api.client(max_retries=1)
    assert ask(client).content[0].text == "Sunny."
    with pytest.raises(raised, match="try later"):
        ask(client)
    messages_api.assert_done()
    assert len(messages_api.requests) == 4


def test_an_unmet_expectation_fails_the_call_and_the_test(messages_api: MessagesServer) -> None:
    messages_api.script(Turn(expect=Expect(tools={"get_weather", "get_forecast"}), reply=Reply(text="unreachable")))
    with pytest.raises(anthropic.BadRequestError, match="tools offered"):
        ask(messages_api.client(), tools=[WEATHER])
    assert messages_api.failures == ["request 1: tools offered ['get_weather'], expected ['get_forecast', 'get_weather']"]
    with pytest.raises(AssertionError, match="tools offered"):
        messages_api.assert_done()


def test_wrong_tool_results_and_unanswered_tool_calls_are_refused(messages_api: MessagesServer) -> None:
    messages_api.script(
        Turn(reply=Reply(tool_calls=[call("get_weather", city="Paris"), call("get_weather", city="Lyon")])),
        Turn(expect=Expect(tool_results=True)),
    )
    client = messages_api.client()
    first = ask(client, tools=[WEATHER])
    only_paris = {"type": "tool_result", "tool_use_id": first.content[0].id, "content": "sunny"}
    with pytest.raises(anthropic.BadRequestError, match="have no tool_result"):
        ask(client, [*QUESTION, {"role": "assistant", "content": first.content}, {"role": "user", "content": [only_paris]}],
            tools=[WEATHER])
    assert messages_api.failures == [f"request 2: tool_use ids ['{first.content[1].id}'] have no tool_result in the next user message"]


def test_cache_control_on_the_system_prompt_meets_the_expectation_and_is_billed_as_cache(messages_api: MessagesServer) -> None:
    messages_api.script(*[Turn(expect=Expect(cache_control=True), reply=Reply(text="Sunny."))] * 2, Turn(expect=Expect(cache_control=True)))
    system = [{"type": "text", "text": "You are a terse weather bot.", "cache_control": {"type": "ephemeral"}}]
    client = messages_api.client()
    written = ask(client, system=system, tools=[WEATHER]).usage
    read = ask(client, system=system, tools=[WEATHER]).usage
    assert written.cache_creation_input_tokens and not written.cache_read_input_tokens
    assert read.cache_read_input_tokens == written.cache_creation_input_tokens and not read.cache_creation_input_tokens
    with pytest.raises(anthropic.BadRequestError, match="no cache_control"):
        ask(client, system="You are a terse weather bot.", tools=[WEATHER])
    assert messages_api.failures == ["request 3: no cache_control on the request, the system prompt or the tools"]


def test_a_request_beyond_the_script_fails_at_once_without_retries(messages_api: MessagesServer) -> None:
    with pytest.raises(anthropic.InternalServerError, match="no more turns"):
        ask(messages_api.client(max_retries=2))
    assert len(messages_api.requests) == 1 and messages_api.failures == ["request 1: the test script has no more turns"]


def test_other_paths_and_bodies_that_are_not_json_objects_are_refused(messages_api: MessagesServer) -> None:
    messages_api.script(Turn())
    with pytest.raises(anthropic.NotFoundError):
        messages_api.client().messages.count_tokens(model=MODEL, messages=QUESTION)
    request = urllib.request.Request(f"{messages_api.url}/v1/messages", data=b"[1]", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400 and json.load(refused.value)["error"]["type"] == "invalid_request_error"
    assert messages_api.failures == ["request 1: the body is not a JSON object: b'[1]'"]
    assert messages_api.turns == [Turn()], "a refused request does not consume a turn"
