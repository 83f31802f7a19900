"""Load: the real web app (`python -m assistant serve`) under 24 concurrent API sessions.

The app runs as a real subprocess on 127.0.0.1 over a copy of the session's index, with the
composer backend. Each session is its own `gradio_client.Client` holding a DIFFERENT two-turn
conversation: turn 1 asks about a feeling or an AQ term, turn 2 is a follow-up that only makes
sense in that conversation ("how do I fix that?", "what's underneath that?"). Every answer is
compared with what the answering service gives in-process for the same question and the same
history, so a follow-up answered from another session's context (or from none) is caught.

API contract these tests use:
  * `/chat`: `predict(question, api_name="/chat") -> str`, one standalone question;
  * `/chat_with_history`: `predict(question, history_json, api_name="/chat_with_history") -> str`,
    where history_json is a JSON list of {"role": "user"|"assistant", "content": str} (OpenAI chat
    format, oldest first) and the result is the plain answer text, as `/chat` returns it.

Latency percentiles are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import free_port as _free_port
from helpers import report as _report
from helpers import stop_process

pytestmark = [pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = 24
STARTUP_TIMEOUT_S = 180
ANSWER_TIMEOUT_S = 120
LOAD_TIMEOUT_S = 300
HISTORY_ENDPOINT = "/chat_with_history"

FIRST_TURNS = [
    "Why does sprinting feel off some days?",
    "What is contributor timing?",
    "What is the swing side?",
    "What is the pushing side?",
    "Why does my sprint feel heavy and rushed?",
    "Why can sprinting feel smooth and powerful at the same time?",
    "Is coordination the cause of sprint speed?",
    "Why do some athletes look coordinated but run different speeds?",
    "What does sprint-system continuity mean?",
    "What does timing between steps mean?",
    "What is swing-side thrust?",
    "What is aggressive projection?",
    "What are sprint-system relationships?",
    "What is sprint-system cycling?",
    "Why does my sprinting feel disconnected?",
    "Why does sprinting sometimes feel effortless?",
]
FOLLOW_UPS = [
    "how do I fix that?",
    "what's underneath that?",
    "why does that happen?",
    "what does that mean for my training?",
]
# 24 different conversations: every first turn, each with a follow-up chosen by position.
CONVERSATIONS = [(FIRST_TURNS[n % len(FIRST_TURNS)], FOLLOW_UPS[(n + n // len(FIRST_TURNS)) % len(FOLLOW_UPS)])
                 for n in range(SESSIONS)]


def _text(result) -> str:
    """The answer text of a prediction (a string; tolerate a dict with "answer" or a 1-tuple)."""
    if isinstance(result, (list, tuple)) and result:
        result = result[0]
    if isinstance(result, dict):
        result = result.get("answer", result.get("text", ""))
    assert isinstance(result, str), repr(result)[:500]
    return result.strip()


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return round(statistics.median(ordered), 1), round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 1)




@pytest.fixture(scope="module")
def app_url(indexed_settings, tmp_path_factory):
    """`python -m assistant serve` on a free loopback port, over a copy of the session's index."""
    from gradio_client import Client

    work = tmp_path_factory.mktemp("load")
    data = work / "data"
    shutil.copytree(indexed_settings.data_dir, data, ignore=shutil.ignore_patterns("*.lock"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AQ_")}
    env.update({"AQ_DATA_DIR": str(data), "AQ_CORPUS_DIR": str(indexed_settings.corpus_dir), "AQ_PORT": str(port),
                "AQ_HOST": "127.0.0.1", "AQ_BACKEND": "composer", "HF_HUB_OFFLINE": "1",
                "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost"})
    log_path = work / "serve.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve"], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(f"`aq-coach serve` exited with {proc.returncode}: {log_path.read_text(errors='replace')[-3000:]}")
            try:
                client = Client(url, verbose=False)
                if _text(client.submit("What is contributor timing?", api_name="/chat").result(timeout=ANSWER_TIMEOUT_S)):
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer /chat within {STARTUP_TIMEOUT_S} s: {log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        stop_process(proc, 15)
        log.close()
        assert "Traceback" not in log_path.read_text(errors="replace"), log_path.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def service(indexed_settings, searcher):
    """The same answering service in-process, for the expected answers."""
    from assistant.answering import AnsweringService
    from assistant.indexing import glossary_for

    return AnsweringService(indexed_settings, searcher, glossary_for(indexed_settings))


def _run_sessions(n: int, work) -> tuple[list[tuple], list[str], list[float]]:
    """Run work(i, client, timed) in n threads, each with its own Client; bounded by LOAD_TIMEOUT_S."""
    results: list[tuple | None] = [None] * n
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def timed(client, *args, api_name):
        started = time.perf_counter()
        out = client.submit(*args, api_name=api_name).result(timeout=ANSWER_TIMEOUT_S)
        with lock:
            latencies.append((time.perf_counter() - started) * 1000)
        return _text(out)

    def run(i: int) -> None:
        try:
            results[i] = work(i, timed)
        except Exception as exc:  # counted and reported: the test asserts there are none
            with lock:
                errors.append(f"session {i}: {type(exc).__name__}: {str(exc)[:300]}")

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    stuck = [i for i, t in enumerate(threads) if t.is_alive()]
    errors += [f"session {i}: no answer within {LOAD_TIMEOUT_S} s" for i in stuck]
    return [r for r in results if r is not None], errors, latencies


def test_concurrent_two_turn_conversations_keep_their_own_context(app_url, service, request):
    from gradio_client import Client

    assert len(set(CONVERSATIONS)) == SESSIONS, "every session must hold a different conversation"
    endpoints = Client(app_url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    if HISTORY_ENDPOINT not in endpoints:
        pytest.fail(
            f"the app has no API endpoint for a two-turn conversation (found: {sorted(endpoints)}). "
            f"Needed: gr.api(chat_with_history, api_name='chat_with_history') with "
            f"`def chat_with_history(question: str, history_json: str) -> str`: history_json is a JSON list of "
            f'{{"role": "user"|"assistant", "content": str}} messages, oldest first ("" or "[]" for none), passed to '
            f"service.answer(question, history); it returns the plain answer text like /chat, and raises gr.Error "
            f"with a clear message for a blank question or history that is not such a list."
        )

    def conversation(i: int, timed):
        first, follow_up = CONVERSATIONS[i]
        client = Client(app_url, verbose=False)
        answer1 = timed(client, first, "[]", api_name=HISTORY_ENDPOINT)
        history = [{"role": "user", "content": first}, {"role": "assistant", "content": answer1}]
        answer2 = timed(client, follow_up, json.dumps(history), api_name=HISTORY_ENDPOINT)
        return i, answer1, history, answer2

    results, errors, latencies = _run_sessions(SESSIONS, conversation)
    p50, p95 = _percentiles(latencies) if latencies else (float("nan"), float("nan"))
    _report(request, [f"load: {SESSIONS} concurrent two-turn sessions via {HISTORY_ENDPOINT}: {len(latencies)} answers, "
                      f"{len(errors)} errors, p50 {p50} ms, p95 {p95} ms"])
    assert not errors, errors
    assert len(results) == SESSIONS

    alone = {q: service.answer(q, []).text.strip() for q in FOLLOW_UPS}
    cache: dict[tuple[str, str], str] = {}

    def in_context(follow_up: str, first: str) -> str:
        if (follow_up, first) not in cache:
            cache[(follow_up, first)] = service.answer(follow_up, [{"role": "user", "content": first}]).text.strip()
        return cache[(follow_up, first)]

    context_mattered = 0
    for i, answer1, history, answer2 in results:
        first, follow_up = CONVERSATIONS[i]
        assert answer1 == service.answer(first, []).text.strip(), f"session {i}: turn 1 differs from the service"
        expected = service.answer(follow_up, history).text.strip()
        assert answer2 == expected, (
            f"session {i} ({first!r} → {follow_up!r}) was not answered in its own context:\n{answer2[:400]}\n"
            f"--- expected ---\n{expected[:400]}"
        )
        for other_first in {f for f, _ in CONVERSATIONS if f != first}:  # nobody else's context leaked in
            other = in_context(follow_up, other_first)
            if other != expected:
                assert answer2 != other, f"session {i} got the follow-up answer of conversation {other_first!r}"
        context_mattered += expected != alone[follow_up]
    assert context_mattered >= SESSIONS - 2, "the follow-ups should need their conversation to be answered"


def test_concurrent_sessions_on_the_stateless_chat_endpoint(app_url, service, request):
    """24 sessions × 2 different standalone questions on /chat: no errors, each the service's answer."""
    from gradio_client import Client

    questions = [(FIRST_TURNS[n % len(FIRST_TURNS)], FIRST_TURNS[(n * 5 + 3) % len(FIRST_TURNS)]) for n in range(SESSIONS)]

    def session(i: int, timed):
        client = Client(app_url, verbose=False)
        return i, [timed(client, q, api_name="/chat") for q in questions[i]]

    results, errors, latencies = _run_sessions(SESSIONS, session)
    p50, p95 = _percentiles(latencies) if latencies else (float("nan"), float("nan"))
    _report(request, [f"load: {SESSIONS} concurrent sessions x 2 questions via /chat: {len(latencies)} answers, "
                      f"{len(errors)} errors, p50 {p50} ms, p95 {p95} ms"])
    assert not errors, errors
    assert len(results) == SESSIONS
    expected = {q: service.answer(q, []).text.strip() for q in FIRST_TURNS}
    for i, answers in results:
        for q, got in zip(questions[i], answers):
            assert got == expected[q], f"session {i}: {q!r} got another answer:\n{got[:300]}"
