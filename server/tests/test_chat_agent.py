"""Chat with a model: a local server speaking the OpenAI or the Anthropic protocol (each test
runs with both) scripts the model's tool calls and answers, streamed as the real services stream
them, and the real server runs its agent loop over its own library (a real socket each way).

The model is scripted to search, to read another tenant's file (refused as not found), to send
malformed calls, to cite a file no tool returned (the citation is removed, even while it
streams), to never stop (the step budget ends it), to fail or to break off its stream (a
classified error); the session stays consistent."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest

from model_servers import ModelServer, Reply, tool_call
from scopix import ChatTokenType, ClientConfig, Scopix, ServerError
from scopix_server.chat.tools import Toolbox
from server_support import LiveServer, make_key, serving, wait_until_terminal_sync

pytestmark = pytest.mark.socket

VAT = (
    "The quarterly VAT return must be filed before the end of the month. A late filing is "
    "charged a penalty and interest by the revenue office."
)
SECRET = "Project Nightjar: the merger closes on the ninth of March."


@dataclass
class Setup:
    live: LiveServer
    model: ModelServer
    key: str
    vat: str
    theirs: str  # another tenant's document

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.live.base_url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=60,
        )


def _upload(live: LiveServer, key: str, name: str, data: bytes) -> str:
    with httpx.Client(
        base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as api:
        answer = api.post("/files/upload", files={"file": (name, data)})
        assert answer.status_code == 201, answer.text
        file_id = str(answer.json()["image_id"])
        wait_until_terminal_sync(api, file_id, timeout=120)
        return file_id


@pytest.fixture(scope="module", params=["openai", "anthropic"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    model = ModelServer(request.param, key="model-key")
    try:
        with serving(
            tmp_path_factory.mktemp("agent"),
            vision_enabled=False,
            chat_provider=request.param,
            chat_base_url=model.url,
            chat_model="scripted",
            chat_api_key="model-key",
            chat_max_steps=4,
            chat_timeout_seconds=20,
            chat_keepalive_seconds=0.5,
        ) as live:
            key = make_key(live.settings, "agent-tenant")
            vat = _upload(live, key, "vat.txt", VAT.encode())
            theirs = _upload(live, make_key(live.settings, "rival"), "secret.txt", SECRET.encode())
            yield Setup(live, model, key, vat, theirs)
    finally:
        model.stop()


@pytest.fixture(autouse=True)
def _fresh_script(setup: Setup) -> None:
    setup.model.script.clear()
    setup.model.seen.clear()
    setup.model.default = Reply(text="(no script)")
    setup.model.streams = True


def _session(api: httpx.Client) -> str:
    made = api.post("/chat/sessions", json={})
    assert made.status_code == 201, made.text
    return str(made.json()["session_id"])


def _tool_messages(model: ModelServer) -> list[dict[str, Any]]:
    """The tool results the model was last sent, as ``tool_call_id`` and ``content``."""
    last = model.seen[-1].body["messages"]
    if model.protocol == "openai":
        return [m for m in last if m["role"] == "tool"]
    return [
        {"tool_call_id": block["tool_use_id"], "content": block["content"]}
        for m in last
        if m["role"] == "user" and isinstance(m["content"], list)
        for block in m["content"]
        if block["type"] == "tool_result"
    ]


def _tool_names(body: dict[str, Any]) -> set[str]:
    return {t["function"]["name"] if "function" in t else t["name"] for t in body["tools"]}


def test_the_model_searches_reads_and_cites(setup: Setup) -> None:
    fake = "0" * 8 + "-0000-0000-0000-" + "0" * 12
    setup.model.script = [
        Reply(tool_calls=[tool_call("search_documents", {"query": "late filing penalty"})]),
        Reply(tool_calls=[tool_call("read_file", {"file_id": setup.vat}, "call_2")]),
        Reply(
            text=f"Yes: a late filing is charged a penalty and interest [file:{setup.vat} p.1]. "
            f"It is also in the annual report [file:{fake}]."
        ),
    ]
    with setup.api() as api:
        session_id = _session(api)
        answer = api.post(
            f"/chat/sessions/{session_id}/messages",
            json={"message": "Is a late VAT filing penalised?"},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        detail = api.get(f"/chat/sessions/{session_id}").json()
    assert body["mode"] == "agent" and body["token_count"] == 60  # 3 steps of 20
    assert f"[file:{setup.vat} p.1]" in body["content"]
    assert fake not in body["content"]  # no tool returned it: the citation is gone
    assert body["citations"] == [
        {"file_id": setup.vat, "media_type": "document", "filename": "vat.txt", "pages": [1]}
    ]
    # what the model was given: the tools, its own calls and their results, in order
    first = setup.model.seen[0].body
    assert _tool_names(first) >= {"search_documents", "read_file"}
    assert first["stream"] is True
    assert first["messages"][-1] == {"role": "user", "content": "Is a late VAT filing penalised?"}
    results = _tool_messages(setup.model)
    assert [m["tool_call_id"] for m in results] == ["call_1", "call_2"]
    assert "late filing is charged a penalty" in results[0]["content"]
    assert json.loads(results[1]["content"])["filename"] == "vat.txt"
    messages = detail["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == body["content"]
    assert messages[1]["metadata"]["citations"] == body["citations"]


def test_another_tenants_file_reads_as_missing(setup: Setup) -> None:
    setup.model.script = [
        Reply(tool_calls=[tool_call("read_file", {"file_id": setup.theirs})]),
        Reply(text=f"I found it [file:{setup.theirs}]."),
    ]
    with setup.api() as api:
        answer = api.post(
            f"/chat/sessions/{_session(api)}/messages", json={"message": "What is Nightjar?"}
        ).json()
    told = _tool_messages(setup.model)[0]["content"]
    assert "no file" in told and "Nightjar" not in told and "secret.txt" not in told
    assert setup.theirs not in answer["content"] and answer["citations"] == []


def test_malformed_tool_calls_are_told_to_the_model(setup: Setup) -> None:
    setup.model.script = [
        Reply(
            tool_calls=[
                tool_call("search_documents", "{not json", "call_a"),
                tool_call("delete_everything", {}, "call_b"),
                tool_call("search_documents", {"query": 42}, "call_c"),
                tool_call("read_file", "[" * 100_000 + "]" * 100_000, "call_d"),  # (too deep)
            ]
        ),
        Reply(text="I could not search properly."),
    ]
    with setup.api() as api:
        answer = api.post(f"/chat/sessions/{_session(api)}/messages", json={"message": "anything?"})
    assert answer.status_code == 200, answer.text
    errors = [json.loads(m["content"])["error"] for m in _tool_messages(setup.model)]
    assert "not valid JSON" in errors[0]
    assert "no tool 'delete_everything'" in errors[1]
    assert "query must be a non-empty string" in errors[2]
    assert "not valid JSON" in errors[3]


def test_a_model_that_never_stops_is_ended_by_the_budget(setup: Setup) -> None:
    setup.model.default = Reply(tool_calls=[tool_call("list_files", {})])
    with setup.api() as api:
        session_id = _session(api)
        with api.stream(
            "POST", f"/chat/sessions/{session_id}/messages/stream", json={"message": "loop"}
        ) as response:
            assert response.status_code == 200
            lines = [json.loads(x[5:]) for x in response.iter_lines() if x.startswith("data:")]
        assert len(setup.model.seen) == 4  # chat_max_steps
        kinds = [event["type"] for event in lines]
        assert kinds.count("tool_invocation") == 4 and "complete" not in kinds
        error = next(event for event in lines if event["type"] == "error")
        assert error["data"]["code"] == "budget_exhausted"
        assert kinds[-1] == "close"
        # nothing half-recorded, and the session is free for the next question
        assert api.get(f"/chat/sessions/{session_id}").json()["messages"] == []
        setup.model.default = Reply(text="Fine now.")
        again = api.post(f"/chat/sessions/{session_id}/messages", json={"message": "again"})
        assert again.status_code == 200 and again.json()["content"] == "Fine now."


@pytest.mark.parametrize(
    ("reply", "error_type", "retryable"),
    [
        (Reply(status=500, error=("server_error", "boom")), "vlm_error", True),
        (Reply(status=429, error=("rate_limit", "slow down")), "rate_limit", True),
        (Reply(status=400, error=("invalid_request_error", "too long")), "validation", False),
        (Reply(body=b"<html>not json</html>"), "vlm_error", True),
        (Reply(text=""), "vlm_error", True),
    ],
)
def test_a_provider_failure_is_a_classified_error(
    setup: Setup, reply: Reply, error_type: str, retryable: bool
) -> None:
    setup.model.default = reply
    with setup.api() as api:
        session_id = _session(api)
        asked = api.get("/tenant").json()["usage"]["chat_messages_this_month"]
        answer = api.post(f"/chat/sessions/{session_id}/messages", json={"message": "hello"})
        assert answer.status_code == 503, answer.text
        details = answer.json()["error"]["details"]
        assert (details["error_type"], details["is_retryable"]) == (error_type, retryable)
        assert answer.headers["X-Should-Retry"] == str(retryable).lower()
        assert api.get(f"/chat/sessions/{session_id}").json()["messages"] == []
        # a question that got no answer is not counted
        assert api.get("/tenant").json()["usage"]["chat_messages_this_month"] == asked


def test_the_sdk_streams_an_agent_answer(setup: Setup) -> None:
    setup.model.script = [
        Reply(tool_calls=[tool_call("search_documents", {"query": "VAT deadline"})]),
        Reply(text=f"Before the end of the month [file:{setup.vat} p.1]."),
    ]
    config = ClientConfig(api_key=setup.key, base_url=setup.live.base_url, max_retries=0)

    async def run() -> list[Any]:
        async with Scopix.from_config(config) as client, client.chat_session() as chat:
            return [token async for token in chat.send_stream("When is VAT due?")]

    tokens = anyio.run(run)
    kinds = [t.type for t in tokens]
    assert kinds[0] is ChatTokenType.CONNECTION and kinds[-1] is ChatTokenType.CLOSE
    assert ChatTokenType.TOOL_INVOCATION in kinds and ChatTokenType.TOOL_RESULT in kinds
    text = "".join(t.content or "" for t in tokens if t.type is ChatTokenType.TOKEN)
    assert text == f"Before the end of the month [file:{setup.vat} p.1]."
    complete = next(t for t in tokens if t.type is ChatTokenType.COMPLETE)
    assert complete.data["mode"] == "agent"
    assert complete.data["citations"][0]["file_id"] == setup.vat


def test_a_server_failure_mid_turn_ends_the_stream_with_an_error(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a tool (the server's, not the model's): the stream says so with an error event
    and closes, rather than breaking off; the session is free again and the question not
    counted."""

    async def broken(self: Toolbox, arguments: Any) -> dict[str, Any]:
        raise RuntimeError("a bug in list_files")

    monkeypatch.setattr(Toolbox, "list_files", broken)  # (the server runs in this process)
    setup.model.default = Reply(tool_calls=[tool_call("list_files", {})])
    with setup.api() as api:
        session_id = _session(api)
        asked = api.get("/tenant").json()["usage"]["chat_messages_this_month"]
        events = [e for _, e in _stream(api, session_id, "what is there?")]
        kinds = [e["type"] for e in events]
        assert kinds[-2:] == ["error", "close"], kinds
        assert events[-2]["data"]["code"] == "server_error"
        assert "a bug" not in json.dumps(events)  # (the log has it, not the client)
        assert api.get("/tenant").json()["usage"]["chat_messages_this_month"] == asked
        monkeypatch.undo()
        setup.model.default = Reply(text="Fine again.")
        again = api.post(f"/chat/sessions/{session_id}/messages", json={"message": "again"})
        assert again.status_code == 200, again.text


def test_the_sdk_does_not_ask_again_what_would_fail_alike(setup: Setup) -> None:
    """A turn that spends its step budget fails the same way on a retry: the server says so
    (X-Should-Retry: false) and the SDK, which retries 503s, raises at once."""
    setup.model.default = Reply(tool_calls=[tool_call("list_files", {})])
    config = ClientConfig(
        api_key=setup.key, base_url=setup.live.base_url, max_retries=2, retry_delay=0.01
    )

    async def run() -> None:
        async with Scopix.from_config(config) as client, client.chat_session() as chat:
            await chat.send("loop")

    with pytest.raises(ServerError) as raised:
        anyio.run(run)
    assert raised.value.details["error_type"] == "budget_exhausted"
    assert len(setup.model.seen) == 4  # one turn of chat_max_steps, not one per retry


def _asked_once_free(api: httpx.Client, session_id: str, message: str) -> httpx.Response:
    """``message`` sent as soon as the session is free again (a turn given up frees it)."""
    deadline = time.monotonic() + 15
    while True:
        answer = api.post(f"/chat/sessions/{session_id}/messages", json={"message": message})
        if answer.status_code != 409 or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_a_client_gone_before_its_stream_starts_leaves_the_session_free(setup: Setup) -> None:
    """A client that sends its question and hangs up at once (a console tab closed just after
    Ask): the turn ends though its stream never started; the session is free, nothing counted."""
    setup.model.default = Reply(text="Nobody reads this.", delay=0.5)
    host, port = setup.live.root_url.removeprefix("http://").split(":")
    with setup.api() as api:
        session_id = _session(api)
        asked = api.get("/tenant").json()["usage"]["chat_messages_this_month"]
        body = json.dumps({"message": "gone?"}).encode()
        request = (
            f"POST /api/v2/chat/sessions/{session_id}/messages/stream HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nAuthorization: Bearer {setup.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        for _ in range(3):  # (the later ones may find the session still held: a 409)
            with socket.create_connection((host, int(port))) as raw:
                raw.sendall(request)
            # (closed at once: the response never gets to its body)
            time.sleep(0.3)
        setup.model.default = Reply(text="Here I am.")
        again = _asked_once_free(api, session_id, "hi")
        assert again.status_code == 200, again.text
        messages = api.get(f"/chat/sessions/{session_id}").json()["messages"]
        assert [m["content"] for m in messages] == ["hi", "Here I am."]
        assert api.get("/tenant").json()["usage"]["chat_messages_this_month"] == asked + 1


def test_a_client_that_hangs_up_mid_answer_leaves_the_session_consistent(setup: Setup) -> None:
    setup.model.script = [
        Reply(tool_calls=[tool_call("search_documents", {"query": "VAT"})]),
        Reply(text="Too late for anyone to read.", delay=2.0),
    ]
    with setup.api() as api:
        session_id = _session(api)
        asked = api.get("/tenant").json()["usage"]["chat_messages_this_month"]
        with api.stream(
            "POST", f"/chat/sessions/{session_id}/messages/stream", json={"message": "VAT?"}
        ) as response:
            for line in response.iter_lines():
                if '"tool_result"' in line:
                    break  # the client goes away while the model is still writing
        # the turn is given up: nothing recorded, not counted, the session free again
        setup.model.default = Reply(text="Here again.")
        again = _asked_once_free(api, session_id, "hi")
        assert again.status_code == 200, again.text
        messages = api.get(f"/chat/sessions/{session_id}").json()["messages"]
        assert (messages[0]["role"], messages[0]["content"]) == ("user", "hi")
        assert len(messages) == 2  # (only the second question and its answer)
        assert api.get("/tenant").json()["usage"]["chat_messages_this_month"] == asked + 1


def _stream(api: httpx.Client, session_id: str, message: str) -> list[tuple[float, dict[str, Any]]]:
    """The turn's events as they arrive, each with the moment it arrived."""
    events = []
    with api.stream(
        "POST", f"/chat/sessions/{session_id}/messages/stream", json={"message": message}
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append((time.monotonic(), json.loads(line[5:])))
    return events


def test_the_answer_streams_as_the_model_writes_it(setup: Setup) -> None:
    fake = "1" * 8 + "-1111-1111-1111-" + "1" * 12
    written = f"Let me check the filing rules. [file:{fake}] One moment."  # (before the tool call)
    answer = (
        f"Late filings pay a penalty [file:{setup.vat} p.1], not [file:{fake} p.2] a fine. " * 3
    )
    setup.model.script = [
        Reply(text=written, tool_calls=[tool_call("search_documents", {"query": "late"})]),
        Reply(text=answer, pace=0.05),
    ]
    with setup.api() as api:
        session_id = _session(api)
        events = _stream(api, session_id, "What happens to late filings?")
        stored = api.get(f"/chat/sessions/{session_id}").json()["messages"][1]["content"]
    tokens = [(at, e["content"]) for at, e in events if e["type"] == "token"]
    complete_at = next(at for at, e in events if e["type"] == "complete")
    # the text came in many pieces, the first of them long before the model had finished
    assert len(tokens) > 10
    assert complete_at - tokens[0][0] > 1.0
    text = "".join(piece for _, piece in tokens)
    assert text == stored  # what was shown is what was recorded
    assert text.startswith("Let me check the filing rules. One moment.\n\nLate filings")
    assert fake not in text and text.count(f"[file:{setup.vat} p.1]") == 3
    assert "not a fine." in text and not text.endswith(" ")


def test_a_stream_that_breaks_off_is_an_error_and_nothing_is_kept(setup: Setup) -> None:
    setup.model.script = [Reply(text="The answer is " + "very " * 40 + "long.", cut=True)]
    with setup.api() as api:
        session_id = _session(api)
        events = [e for _, e in _stream(api, session_id, "Tell me")]
        kinds = [e["type"] for e in events]
        assert "token" in kinds and "complete" not in kinds and kinds[-1] == "close"
        error = next(e for e in events if e["type"] == "error")
        assert error["data"]["code"] == "vlm_error"
        assert "before its answer was complete" in error["data"]["message"]
        assert api.get(f"/chat/sessions/{session_id}").json()["messages"] == []
        setup.model.default = Reply(text="Whole this time.")
        again = api.post(f"/chat/sessions/{session_id}/messages", json={"message": "again"})
        assert again.status_code == 200 and again.json()["content"] == "Whole this time."


def test_a_model_server_that_does_not_stream_is_read_whole(setup: Setup) -> None:
    setup.model.streams = False  # (it answers `stream: true` with one JSON body)
    setup.model.script = [
        Reply(tool_calls=[tool_call("read_file", {"file_id": setup.vat})]),
        Reply(text=f"It is about VAT [file:{setup.vat}]."),
    ]
    with setup.api() as api:
        session_id = _session(api)
        events = [e for _, e in _stream(api, session_id, "What is vat.txt?")]
    text = "".join(e["content"] for e in events if e["type"] == "token")
    assert text == f"It is about VAT [file:{setup.vat}]."
    assert next(e for e in events if e["type"] == "complete")["data"]["citations"][0][
        "file_id"
    ] == (setup.vat)


def test_a_hosted_chat_provider_needs_a_key() -> None:
    from scopix_server.settings import Settings

    with pytest.raises(ValueError, match="SCOPIX_SERVER_CHAT_API_KEY"):
        Settings(chat_provider="anthropic")
    with pytest.raises(ValueError, match="less than or equal to 540"):
        Settings(chat_timeout_seconds=600)  # (a turn held 10 minutes is taken for a dead one)
    with pytest.raises(ValueError, match="SCOPIX_SERVER_CHAT_BASE_URL at a local server"):
        Settings(chat_provider="openai")
    assert Settings(chat_provider="openai", chat_base_url="http://127.0.0.1:11434/v1")
    configured = Settings(chat_provider="anthropic", anthropic_api_key="k", anthropic_model="m")
    assert (configured.resolved_chat_model, configured.resolved_chat_api_key) == ("m", "k")
    assert configured.resolved_chat_base_url == configured.anthropic_base_url


def test_a_repeated_question_with_its_idempotency_key_is_answered_once(setup: Setup) -> None:
    """A client retrying (its first request still at work, or already answered) gets the first
    answer: the model is asked once, the question counted once, recorded once."""
    setup.model.script = [Reply(text="Asked once, answered once.", delay=1.0)]
    with setup.api() as api:
        session_id = _session(api)
        asked = api.get("/tenant").json()["usage"]["chat_messages_this_month"]
        url = f"/chat/sessions/{session_id}/messages"
        key = {"Idempotency-Key": f"question-{uuid.uuid4().hex}"}  # (new on each backend)

        def send(message: str = "Once?") -> httpx.Response:
            with setup.api() as own:
                return own.post(url, json={"message": message}, headers=key)

        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: send(), range(3)))
        assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
        assert len({a.json()["message_id"] for a in answers}) == 1
        assert send().json() == answers[0].json()  # (a repeat later replays it too)
        assert send("Something else?").status_code == 409  # the key is this question's
        assert len(setup.model.seen) == 1
        messages = api.get(f"/chat/sessions/{session_id}").json()["messages"]
        assert [m["content"] for m in messages] == ["Once?", "Asked once, answered once."]
        assert api.get("/tenant").json()["usage"]["chat_messages_this_month"] == asked + 1


def test_a_repeated_stream_waits_for_the_first_and_tells_its_answer(setup: Setup) -> None:
    """Two streams of one question under one Idempotency-Key, the second sent while the first
    is still being written: the model is asked once, and both tell the same answer; a stream
    that ends in an error keeps no answer, so the key can be used again."""
    setup.model.script = [Reply(text="Once, and told twice.", delay=1.0)]
    with setup.api() as api:
        session_id = _session(api)
        url = f"/chat/sessions/{session_id}/messages/stream"
        key = {"Idempotency-Key": f"stream-{uuid.uuid4().hex}"}

        def stream() -> list[dict[str, Any]]:
            with (
                setup.api() as own,
                own.stream("POST", url, json={"message": "Once?"}, headers=key) as response,
            ):
                assert response.status_code == 200, response.read()
                return [json.loads(x[5:]) for x in response.iter_lines() if x.startswith("data:")]

        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(stream)
            time.sleep(0.3)
            second = pool.submit(stream)
            told = [first.result(), second.result()]
        for events in told:
            assert "".join(e["content"] for e in events if e["type"] == "token") == (
                "Once, and told twice."
            )
        ids = {next(e for e in events if e["type"] == "complete")["data"]["message_id"]
               for events in told}  # fmt: skip
        assert len(ids) == 1 and len(setup.model.seen) == 1

        setup.model.script = [Reply(status=500, error=("server_error", "boom"))]
        failing = {"Idempotency-Key": f"failing-{uuid.uuid4().hex}"}
        for expected in ("error", "complete"):
            setup.model.default = Reply(text="Fine the second time.")
            with api.stream("POST", url, json={"message": "And now?"}, headers=failing) as answer:
                kinds = [json.loads(x[5:])["type"] for x in answer.iter_lines() if x[:5] == "data:"]
            assert expected in kinds and kinds[-1] == "close", kinds


def test_a_slow_model_is_kept_alive_with_pings(setup: Setup) -> None:
    """While the model thinks, the stream sends ping events (a proxy in between would otherwise
    close a connection that has been silent too long); the answer then streams as usual."""
    setup.model.script = [Reply(text="Slow but sure.", delay=1.8)]
    with setup.api() as api:
        events = [e for _, e in _stream(api, _session(api), "Take your time")]
    kinds = [e["type"] for e in events]
    first_token = kinds.index("token")
    assert kinds[:first_token].count("ping") >= 2, kinds
    assert "".join(e["content"] for e in events if e["type"] == "token") == "Slow but sure."
    assert kinds[-2:] == ["complete", "close"]
