"""Chat sessions over a real socket, in retrieval mode (no chat model configured): sessions and
messages persisted per tenant, answers that quote only the tenant's own files, the stream as
server-sent events, pinned files, closed sessions, and one turn at a time per session."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import update

from media_support import text_image
from scopix import (
    ChatMessage,
    ChatResponse,
    ChatToken,
    ChatTokenType,
    ClientConfig,
    MessageRole,
    ResourceNotFoundError,
    Scopix,
    SSEStreamError,
    SyncScopix,
)
from scopix_server.chat import NO_MODEL
from scopix_server.db.models import UsageCounter
from scopix_server.db.session import create_engine
from server_support import LiveServer, make_key, serving, wait_until_terminal_sync

pytestmark = pytest.mark.socket

VAT = (
    "The quarterly VAT return must be filed before the end of the month. A late filing is "
    "charged a penalty and interest by the revenue office."
)
GARDEN = "Water the tomatoes every morning and prune the roses in early spring."


@dataclass
class Chat:
    live: LiveServer
    key: str
    files: dict[str, str]

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.live.base_url,
            headers={"Authorization": f"Bearer {key or self.key}"},
            timeout=60,
        )


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chat]:
    with serving(tmp_path_factory.mktemp("chat"), vision_enabled=False) as live:
        key = make_key(live.settings, "chat-tenant")
        image, _ = text_image([("HARBOUR", 120, 200), ("LIGHTHOUSE TOURS", 120, 520)])
        sign = io.BytesIO()
        image.save(sign, "PNG")
        uploads = {
            "harbour.png": sign.getvalue(),
            "vat.txt": VAT.encode(),
            "garden.txt": GARDEN.encode(),
        }
        files = {}
        with httpx.Client(
            base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as api:
            for name, data in uploads.items():
                answer = api.post("/files/upload", files={"file": (name, data)})
                assert answer.status_code == 201, answer.text
                files[name] = answer.json()["image_id"]
            for file_id in files.values():
                wait_until_terminal_sync(api, file_id, timeout=180)
        yield Chat(live, key, files)


def _new(api: httpx.Client, **body: Any) -> str:
    answer = api.post("/chat/sessions", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["session_id"])


def _events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The server-sent events of a response, parsed as any SSE client does."""
    events: list[tuple[str, dict[str, Any]]] = []
    kind, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                events.append((kind, json.loads("\n".join(data))))
            kind, data = "message", []
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


def test_a_question_is_answered_with_the_tenants_own_files(chat: Chat) -> None:
    with chat.client() as api:
        session_id = _new(api)
        sent = api.post(
            f"/chat/sessions/{session_id}/messages",
            json={"message": "Is there a penalty when the tax return is filed late?"},
        )
        assert sent.status_code == 200, sent.text
        answer = sent.json()
        assert answer["mode"] == "retrieval" and answer["token_count"] == 0
        assert answer["content"].startswith(NO_MODEL)
        cited = {c["file_id"]: c for c in answer["citations"]}
        assert chat.files["vat.txt"] in cited
        assert cited[chat.files["vat.txt"]]["media_type"] == "document"
        assert set(cited) <= set(chat.files.values())
        # the passage is quoted, not paraphrased
        assert "late filing is charged a penalty" in answer["content"]
        for image in answer["image_context"]:
            assert image["image_id"] in chat.files.values()
            assert image["thumbnail_url"]

        detail = api.get(f"/chat/sessions/{session_id}").json()
        roles = [(m["role"], m["content"][:20]) for m in detail["messages"]]
        assert roles == [("user", "Is there a penalty w"), ("assistant", NO_MODEL[:20])]
        assert detail["messages"][1]["id"] == answer["message_id"]
        assert detail["messages"][1]["metadata"]["mode"] == "retrieval"
        assert detail["session"]["total_messages"] == 2
        assert detail["session"]["title"].startswith("Is there a penalty")
        assert detail["session"]["remaining_messages"] == answer["remaining_messages"]
        listed = api.get("/chat/sessions").json()
        assert session_id in {s["id"] for s in listed["sessions"]}


def test_a_replayed_answer_shows_thumbnails_signed_anew(chat: Chat) -> None:
    """A retry with the same Idempotency-Key replays the first answer, but its thumbnail URLs
    are signed at the replay: a client retrying an hour later does not get expired links."""
    with chat.client() as api:
        url = f"/chat/sessions/{_new(api)}/messages"
        key = {"Idempotency-Key": "harbour-question"}
        question = {"message": "Which picture shows the harbour lighthouse tours?"}
        first = api.post(url, json=question, headers=key)
        assert first.status_code == 200, first.text
        shown = {i["image_id"]: i for i in first.json()["image_context"]}
        assert chat.files["harbour.png"] in shown
        time.sleep(1.1)  # (a URL signed a second later expires a second later)
        again = api.post(url, json=question, headers=key)
        assert again.status_code == 200, again.text
        replayed = {i["image_id"]: i for i in again.json()["image_context"]}
        assert replayed.keys() == shown.keys()
        assert again.json()["message_id"] == first.json()["message_id"]
        for image_id, image in replayed.items():
            assert image["thumbnail_url"] != shown[image_id]["thumbnail_url"]
            fetched = httpx.get(image["thumbnail_url"])  # (signed: no key; S3 refuses one)
            assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/webp"
        replayed_rest = {k: v for k, v in again.json().items() if k != "image_context"}
        assert replayed_rest == {k: v for k, v in first.json().items() if k != "image_context"}


def test_the_stream_carries_the_same_answer_as_events(chat: Chat) -> None:
    with chat.client() as api:
        session_id = _new(api, title="Signs")
        with api.stream(
            "POST",
            f"/chat/sessions/{session_id}/messages/stream",
            json={"message": "lighthouse tours"},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _events(response)
        kinds = [kind for kind, _ in events]
        assert kinds[:3] == ["connection", "status", "image_results"]
        assert kinds[-2:] == ["complete", "close"]
        assert set(kinds[3:-2]) == {"token"}
        assert all(body["type"] == kind for kind, body in events)
        images = events[2][1]["data"]["images"]
        assert images and images[0]["image_id"] == chat.files["harbour.png"]
        text = "".join(body["content"] for kind, body in events if kind == "token")
        complete = events[-2][1]["data"]
        stored = api.get(f"/chat/sessions/{session_id}").json()["messages"]
        assert stored[-1]["id"] == complete["message_id"]
        assert stored[-1]["content"] == text
        assert chat.files["harbour.png"] in {c["file_id"] for c in complete["citations"]}


def test_a_repeated_stream_with_its_idempotency_key_tells_the_first_answer(chat: Chat) -> None:
    """A client that retries a stream (its connection broke before it read the answer) gets
    the first answer again, as events; the question is asked, recorded and counted once."""
    with chat.client() as api:
        session_id = _new(api)
        url = f"/chat/sessions/{session_id}/messages/stream"
        key = {"Idempotency-Key": f"stream-{session_id}"}
        asked = api.get("/tenant").json()["usage"]["chat_messages_this_month"]
        question = {"message": "Is there a penalty when the tax return is filed late?"}
        told = []
        for _ in range(2):
            with api.stream("POST", url, json=question, headers=key) as response:
                assert response.status_code == 200
                told.append(_events(response))
        completes = [next(e["data"] for k, e in events if k == "complete") for events in told]
        texts = ["".join(e["content"] for k, e in events if k == "token") for events in told]
        assert completes[1]["message_id"] == completes[0]["message_id"]
        assert completes[1]["citations"] == completes[0]["citations"]
        assert texts[1] == texts[0] and texts[0].startswith(NO_MODEL)
        assert [k for k, _ in told[1]][-2:] == ["complete", "close"]
        messages = api.get(f"/chat/sessions/{session_id}").json()["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"]  # (asked once)
        assert messages[1]["content"] == texts[0]
        assert api.get("/tenant").json()["usage"]["chat_messages_this_month"] == asked + 1
        other = api.post(url, json={"message": "Something else?"}, headers=key)
        assert other.status_code == 409  # (the key is that question's)


def test_pinned_documents_limit_what_is_quoted(chat: Chat) -> None:
    with chat.client() as api:
        session_id = _new(api)
        pinned = api.put(
            f"/chat/sessions/{session_id}/documents",
            json={"document_ids": [chat.files["garden.txt"]]},
        )
        assert pinned.status_code == 200 and pinned.json()["document_count"] == 1
        none = api.put(f"/chat/sessions/{session_id}/images", json={"image_ids": []})
        assert none.status_code == 200
        answer = api.post(
            f"/chat/sessions/{session_id}/messages",
            json={"message": "late filing penalty for the VAT return"},
        ).json()
        cited = {c["file_id"] for c in answer["citations"]}
        assert chat.files["vat.txt"] not in cited
        assert cited <= {chat.files["garden.txt"], chat.files["harbour.png"]}


def test_expected_images_come_first_but_never_widen_the_session(chat: Chat) -> None:
    harbour = chat.files["harbour.png"]
    question = {
        "message": "Which picture shows the harbour lighthouse tours?",
        "expected_image_ids": [harbour],
    }
    with chat.client() as api:
        closed_off = _new(api, use_all_images=False)  # (documents only)
        sent = api.post(f"/chat/sessions/{closed_off}/messages", json=question)
        assert sent.status_code == 200, sent.text
        assert sent.json()["image_context"] == []
        assert harbour not in {c["file_id"] for c in sent.json()["citations"]}
        open_ = _new(api)
        sent = api.post(f"/chat/sessions/{open_}/messages", json=question)
        assert sent.status_code == 200, sent.text
        assert [i["image_id"] for i in sent.json()["image_context"]][:1] == [harbour]


def test_nothing_to_quote_is_said_plainly(chat: Chat) -> None:
    empty_key = make_key(chat.live.settings)  # a tenant with no files
    with chat.client(empty_key) as api:
        session_id = _new(api)
        answer = api.post(
            f"/chat/sessions/{session_id}/messages", json={"message": "late filing penalty"}
        ).json()
    assert answer["citations"] == [] and answer["image_context"] == []
    assert "Nothing in your library matches" in answer["content"]


def test_another_tenants_sessions_and_files_are_out_of_reach(chat: Chat) -> None:
    with chat.client() as api:
        session_id = _new(api)
    other = make_key(chat.live.settings)
    with chat.client(other) as api:
        assert api.get(f"/chat/sessions/{session_id}").status_code == 404
        assert api.delete(f"/chat/sessions/{session_id}").status_code == 404
        sent = api.post(f"/chat/sessions/{session_id}/messages", json={"message": "hello"})
        assert sent.status_code == 404
        assert session_id not in {s["id"] for s in api.get("/chat/sessions").json()["sessions"]}
        own = _new(api)
        pinned = api.put(
            f"/chat/sessions/{own}/images", json={"image_ids": [chat.files["harbour.png"]]}
        )
        assert pinned.status_code == 404  # (exactly as for an id that does not exist)
        assert chat.files["harbour.png"] in pinned.json()["error"]["message"]
        created = api.post(
            "/chat/sessions", json={"initial_image_ids": [chat.files["harbour.png"]]}
        )
        assert created.status_code == 404


def test_a_closed_session_stays_readable_and_refuses_messages(chat: Chat) -> None:
    with chat.client() as api:
        session_id = _new(api)
        closed = api.delete(f"/chat/sessions/{session_id}")
        assert closed.status_code == 200
        again = api.delete(f"/chat/sessions/{session_id}")
        assert again.json()["closed_at"] == closed.json()["closed_at"]
        sent = api.post(f"/chat/sessions/{session_id}/messages", json={"message": "hello"})
        assert sent.status_code == 409 and "closed" in sent.json()["error"]["message"]
        assert api.get(f"/chat/sessions/{session_id}").json()["session"]["is_active"] is False
        active = api.get("/chat/sessions", params={"active_only": "true", "limit": 100}).json()
        assert session_id not in {s["id"] for s in active["sessions"]}


@pytest.mark.parametrize(
    "body",
    [
        {"message": ""},
        {"message": "x" * 10_001},
        {"message": "hi", "expected_image_ids": ["not-an-id"]},
        {"message": "hi", "surprise": True},
        {"message": "hi", "force_detailed_analysis": 0},
        {},
    ],
)
def test_bad_messages_are_422(chat: Chat, body: dict[str, Any]) -> None:
    with chat.client() as api:
        session_id = _new(api)
        answer = api.post(f"/chat/sessions/{session_id}/messages", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"


def test_unknown_sessions_are_404(chat: Chat) -> None:
    with chat.client() as api:
        for path in ("/chat/sessions/nope", "/chat/sessions/" + "0" * 36):
            assert api.get(path).status_code == 404
        sent = api.post("/chat/sessions/nope/messages/stream", json={"message": "hello"})
        assert sent.status_code == 404
        assert sent.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("round_", range(3))
def test_messages_sent_at_once_are_answered_one_at_a_time(chat: Chat, round_: int) -> None:
    """Concurrent sends to one session: each is answered or refused with 409; none is lost
    half-way, and the messages keep a strict question-answer order."""
    with chat.client() as api:
        session_id = _new(api)

    def send(number: int) -> int:
        with chat.client() as api:
            answer = api.post(
                f"/chat/sessions/{session_id}/messages",
                json={"message": f"question {round_}-{number} about the harbour"},
            )
            return answer.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(8)))
    assert set(statuses) <= {200, 409}, statuses
    answered = statuses.count(200)
    assert answered >= 1
    with chat.client() as api:
        detail = api.get(f"/chat/sessions/{session_id}").json()
    messages = detail["messages"]
    assert detail["session"]["total_messages"] == len(messages) == 2 * answered
    assert [m["role"] for m in messages] == ["user", "assistant"] * answered


def test_sessions_page(live: LiveServer) -> None:
    key = make_key(live.settings)  # (a tenant of its own)
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        made = [_new(api, title=f"chat {n}") for n in range(5)]
        first = api.get("/chat/sessions", params={"limit": 2}).json()
        assert first["total_count"] == 5 and first["has_more"] is True
        rest = api.get("/chat/sessions", params={"limit": 10, "offset": 2}).json()
        assert rest["has_more"] is False
        seen = [s["id"] for s in first["sessions"] + rest["sessions"]]
        assert sorted(seen) == sorted(made)
        assert api.get("/chat/sessions", params={"limit": 0}).status_code == 422


def test_the_sdk_streams_and_reads_sessions(chat: Chat) -> None:
    """The real SDK over the socket: a session as a context manager, the stream as typed
    tokens, the whole answer, the messages, the pages of sessions; then its blocking twin."""
    config = ClientConfig(api_key=chat.key, base_url=chat.live.base_url, max_retries=0)

    async def run() -> tuple[str, list[ChatToken], ChatResponse, list[ChatMessage], set[str]]:
        async with Scopix.from_config(config) as client:
            async with client.chat_session(title="From the SDK") as session:
                tokens = [token async for token in session.send_stream("late filing penalty")]
                whole = await session.send("lighthouse tours")
                messages = await session.messages()
                ids = {s.id async for s in client.chats.iter_sessions(page_size=2)}
                with pytest.raises(ResourceNotFoundError):
                    async for _ in client.chats.send_stream("hi", session_id="0" * 36):
                        pass
            detail = await client.chats.get_session(session.session_id)
            assert detail.session.is_active is False  # (closed by the context manager)
            return session.session_id, tokens, whole, messages, ids

    session_id, tokens, whole, messages, ids = anyio.run(run)
    kinds = [token.type for token in tokens]
    assert kinds[0] is ChatTokenType.CONNECTION and kinds[-1] is ChatTokenType.CLOSE
    complete = next(t for t in tokens if t.type is ChatTokenType.COMPLETE)
    text = "".join(t.content or "" for t in tokens if t.type is ChatTokenType.TOKEN)
    assert [m.role for m in messages] == [MessageRole.USER, MessageRole.ASSISTANT] * 2
    assert messages[1].content == text and messages[1].id == complete.data["message_id"]
    assert chat.files["vat.txt"] in {c["file_id"] for c in complete.data["citations"]}
    assert whole.mode == "retrieval" and whole.content.startswith(NO_MODEL)
    assert whole.image_context[0]["image_id"] == chat.files["harbour.png"]
    assert session_id in ids

    with SyncScopix.from_config(config) as client:
        with client.chat_session() as session:
            pieces = list(session.send_stream("harbour"))
            assert pieces[-2].type is ChatTokenType.COMPLETE
        listed = client.chats.list_sessions(limit=100)
    assert session.session_id in {s.id for s in listed.sessions}


def test_a_stream_cut_off_before_its_end_is_an_error() -> None:
    """A server that dies mid-answer: the SDK raises SSEStreamError, never hangs or ends as if
    the answer were whole."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            event = b'event: token\ndata: {"type": "token", "content": "The "}\n\n'
            conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))
            # then the connection drops, with no complete token and no last chunk

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    config = ClientConfig(
        api_key="scopix_abcdefgh_" + "x" * 32, base_url=f"http://127.0.0.1:{port}", max_retries=0
    )
    received: list[ChatToken] = []

    async def run() -> None:
        async with Scopix.from_config(config) as client:
            async for token in client.chats.send_stream("hello", session_id="0" * 36):
                received.append(token)

    with pytest.raises(SSEStreamError) as caught:
        anyio.run(run)
    thread.join(timeout=10)
    listener.close()
    assert [t.content for t in received] == ["The "]
    assert caught.value.events_received == 1


def test_chat_messages_are_counted_and_capped_per_tier(chat: Chat) -> None:
    """Each question answered counts in the month's usage; past the tier's limit, 403."""
    key = make_key(chat.live.settings, "chat-free", tier="free")
    with chat.client(key) as api:
        tenant = api.get("/tenant").json()
        assert tenant["limits"]["monthly_chat_messages"] == 50
        session_id = _new(api)
        assert (
            api.post(
                f"/chat/sessions/{session_id}/messages", json={"message": "harbour"}
            ).status_code
            == 200
        )
        usage = api.get("/tenant").json()["usage"]
        assert usage["chat_messages_this_month"] == 1

        async def near_the_cap() -> None:  # (48 more asked, as if earlier this month)
            engine = create_engine(chat.live.settings.resolved_database_url)
            try:
                async with engine.begin() as connection:
                    await connection.execute(
                        update(UsageCounter)
                        .where(UsageCounter.tenant_id == tenant["id"])
                        .values(chat_messages=49)
                    )
            finally:
                await engine.dispose()

        anyio.run(near_the_cap)
        last = api.post(f"/chat/sessions/{session_id}/messages", json={"message": "harbour"})
        assert last.status_code == 200
        over = api.post(f"/chat/sessions/{session_id}/messages", json={"message": "harbour"})
        assert over.status_code == 403, over.text
        assert over.json()["error"]["code"] == "QUOTA_EXCEEDED"
        assert "50 chat messages" in over.json()["error"]["message"]
        # the refused question took neither a place in the session nor the session itself
        detail = api.get(f"/chat/sessions/{session_id}").json()
        assert detail["session"]["total_messages"] == 4
        assert api.get("/tenant").json()["usage"]["chat_messages_this_month"] == 50
