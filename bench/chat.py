"""Chat with a model: time to first token and the server's own cost per tool step.

    .venv/bin/python bench/chat.py [--steps 3] [--rounds 15]

A local OpenAI-protocol server (the tests' scripted model) plays the model: each turn it calls
``search_documents`` ``--steps`` times, then answers. ``scopix-server serve`` (the embedded
defaults: SQLite, a local folder, the bundled MiniLM embedder) runs the agent loop over a small
library of documents. In interleaved rounds (median of each), so that the shared machine's drift
hits all of them alike:

- baseline: the scripted model answering directly: the turn's ``steps`` + 1 chat-completions
  calls made one after the other over HTTP by one client;
- the turn through the server (``POST .../messages``): the same ``steps`` + 1 model calls;
- the same turn streamed (``.../messages/stream``), with a model that takes ``WRITING`` seconds
  to write its answer: the time to the first text token against the time to the whole answer
  (the server passes the model's text on as it comes, rather than once it is complete).

Turns of 1 tool step are timed too, so that what each further step costs the server (running
the tool, a hybrid search, and sending the model its result) is told apart from what every turn
costs once (the client's HTTP hop, taking the session, recording the messages):
per step = ((turn - turn of 1) - (baseline - baseline of 1)) / (steps - 1). Target (issue 17):
under 50 ms per tool step.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_support import scopix_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server" / "tests"))
from model_servers import ModelServer, Reply, tool_call  # (the tests' scripted model)

TARGET_MS = 50.0
NOTES = [
    "The quarterly VAT return is due at the end of the month; late filing costs a penalty.",
    "The ferry leaves the harbour at nine and returns at six, weather permitting.",
    "Water the tomatoes every morning and prune the roses in early spring.",
    "The warranty covers parts and labour for two years from the date of purchase.",
    "Board meetings are held on the first Tuesday of each quarter in room 4.",
]


ANSWER = "The return is due at the end of the month."
LONG_ANSWER = " ".join([ANSWER] * 8)  # 48 streamed pieces of 6 characters
WRITING = 0.5  # seconds the model takes to write LONG_ANSWER


def script(model: ModelServer, steps: int, *, long: bool = False) -> None:
    pace = WRITING / (len(LONG_ANSWER) / 6)
    final = Reply(text=LONG_ANSWER, pace=pace) if long else Reply(text=ANSWER)
    model.script = [
        Reply(tool_calls=[tool_call("search_documents", {"query": f"deadline {n}"}, f"c{n}")])
        for n in range(steps)
    ] + [final]


def direct_turn(direct: httpx.Client, model: ModelServer, steps: int) -> float:
    """The same model calls as one turn, made straight to the model (one client, in a row,
    each streamed as the server asks for it)."""
    body = {"model": "bench", "messages": [{"role": "user", "content": "hello"}], "stream": True}
    started = time.perf_counter()
    for _ in range(steps + 1):
        direct.post(f"{model.url}/chat/completions", json=body).raise_for_status()
    return time.perf_counter() - started


def turn(api: httpx.Client, session_id: str) -> float:
    started = time.perf_counter()
    answer = api.post(f"/chat/sessions/{session_id}/messages", json={"message": "VAT due?"})
    answer.raise_for_status()
    assert answer.json()["mode"] == "agent", answer.text
    return time.perf_counter() - started


def streamed(api: httpx.Client, session_id: str) -> tuple[float, float]:
    """Seconds to the first text token and to the whole answer (``complete``)."""
    started = time.perf_counter()
    first = None
    path = f"/chat/sessions/{session_id}/messages/stream"
    with api.stream("POST", path, json={"message": "VAT due?"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("event: token") and first is None:
                first = time.perf_counter() - started
            if line.startswith("event: complete") and first is not None:
                return first, time.perf_counter() - started
    raise RuntimeError("the stream carried no token, or no complete")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="at least 2")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    model = ModelServer("openai")
    model.default = Reply(text=ANSWER)
    env = {
        "SCOPIX_SERVER_CHAT_PROVIDER": "openai",
        "SCOPIX_SERVER_CHAT_BASE_URL": model.url,
        "SCOPIX_SERVER_CHAT_MODEL": "bench",
        "SCOPIX_SERVER_CHAT_MAX_STEPS": str(args.steps + 2),
        "SCOPIX_SERVER_VISION_ENABLED": "false",
    }
    calls: list[float] = []
    turns: list[float] = []
    direct_one: list[float] = []
    turns_one: list[float] = []
    firsts: list[float] = []
    wholes: list[float] = []
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            scopix_server(Path(tmp) / "data", env) as served,
            httpx.Client(base_url=served.base, headers=served.headers, timeout=120) as api,
            httpx.Client(timeout=30) as direct,
        ):
            for number, note in enumerate(NOTES):
                sent = api.post("/files/upload", files={"file": (f"note-{number}.txt", note)})
                sent.raise_for_status()
                file_id = sent.json()["image_id"]
                while not api.get(f"/files/{file_id}/status").json()["is_terminal"]:
                    time.sleep(0.1)
            session_id = api.post("/chat/sessions", json={}).json()["session_id"]
            script(model, args.steps)
            turn(api, session_id)  # (warm: the embedder, the first queries)
            print(f"{len(NOTES)} documents; {args.steps} tool steps a turn; "
                  f"{args.rounds} interleaved rounds")  # fmt: skip
            for number in range(args.rounds):
                if number % 10 == 9:  # (a session holds 200 messages)
                    session_id = api.post("/chat/sessions", json={}).json()["session_id"]
                for steps, direct_runs, turn_runs in (
                    (1, direct_one, turns_one),
                    (args.steps, calls, turns),
                ):
                    direct_runs.append(direct_turn(direct, model, steps))
                    script(model, steps)
                    turn_runs.append(turn(api, session_id))
                script(model, args.steps, long=True)
                first, whole = streamed(api, session_id)
                firsts.append(first)
                wholes.append(whole)
    finally:
        model.stop()

    direct = statistics.median(calls)
    whole = statistics.median(turns)
    first = statistics.median(firsts)
    streamed_whole = statistics.median(wholes)
    direct_1 = statistics.median(direct_one)
    whole_1 = statistics.median(turns_one)
    # each further tool step: what the turn gains minus what the model calls alone gain
    overhead_ms = ((whole - whole_1) - (direct - direct_1)) / (args.steps - 1) * 1000
    fixed_ms = (whole_1 - direct_1) * 1000 - overhead_ms
    print(f"{args.steps + 1} model calls, direct (baseline): {direct * 1000:7.1f} ms")
    print(f"the same turn via the server:       {whole * 1000:7.1f} ms ({whole / direct:.2f}x)")
    print(f"a turn of 1 tool step: direct {direct_1 * 1000:.1f} ms, via the server "
          f"{whole_1 * 1000:.1f} ms")  # fmt: skip
    print(f"streamed (the model writes for {WRITING * 1000:.0f} ms): first token "
          f"{first * 1000:.1f} ms, whole answer {streamed_whole * 1000:.1f} ms")  # fmt: skip
    print(f"server overhead per turn (fixed):   {fixed_ms:7.1f} ms (HTTP, the session's rows)")
    print(f"server overhead per tool step:      {overhead_ms:7.1f} ms (target < {TARGET_MS:.0f})")
    ok = overhead_ms < TARGET_MS
    print("result:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
