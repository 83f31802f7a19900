"""Two `aq-coach serve` replicas sharing one `chroma run` server and one PostgreSQL (all real, on loopback).

- A browser session begun on replica A continues on replica B (the browser's stored session is
  what a load balancer would carry over), and its messages and feedback are rows in PostgreSQL.
- Load: 2 replicas × 25 concurrent two-turn API sessions (`/chat_session`), then the same with
  replica B killed (SIGKILL) mid-run. A client whose replica died retries the turn on the other,
  with the same turn id, as a load balancer's failover would. Nothing may be lost or duplicated:
  every session ends with exactly its two questions and two answers, counted in PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import free_port, fresh_postgres_database, report, start_chroma_server, stop_process
from sqlalchemy import create_engine, text
from test_ui import CHROMIUM, CHROMIUM_ARGS, Tab

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parent.parent
SESSIONS_PER_REPLICA = 25
QUESTIONS = [("What is contributor timing?", "How do I improve it?"),
             ("What is the swing side?", "And what should I work on for it?"),
             ("Why does sprinting sometimes feel heavy?", "What may be happening underneath that?")]


def _serve(env: dict, name: str, port: int, log_dir: Path) -> subprocess.Popen:
    log = open(log_dir / f"serve-{name}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)],
                            env={**env, "AQ_DATA_DIR": str(log_dir / f"data-{name}"), "AQ_REPLICA_NAME": name},
                            stdout=log, stderr=subprocess.STDOUT, cwd=log_dir)
    log.close()
    deadline = time.monotonic() + 180
    while "serving on" not in (log_dir / f"serve-{name}.log").read_text(errors="replace"):
        assert proc.poll() is None, (log_dir / f"serve-{name}.log").read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"replica {name} did not say it was ready"
        time.sleep(0.5)
    return proc


@pytest.fixture(scope="module")
def deployment(postgres_url, tmp_path_factory):
    base = tmp_path_factory.mktemp("replicas")
    db_url = fresh_postgres_database(postgres_url, "r")
    chroma_port = free_port()
    (base / "chroma").mkdir()
    chroma = start_chroma_server(base / "chroma", chroma_port)
    env = {**os.environ, "AQ_DATABASE_URL": db_url, "AQ_CHROMA_HOST": "127.0.0.1", "AQ_CHROMA_PORT": str(chroma_port),
           "AQ_CORPUS_DIR": str(ROOT / "corpus")}
    done = subprocess.run([sys.executable, "-m", "assistant", "ingest", "--json"], cwd=base, capture_output=True,
                          text=True, timeout=300, env={**env, "AQ_DATA_DIR": str(base / "ingest")})
    assert done.returncode == 0, done.stderr
    ports = {"a": free_port(), "b": free_port()}
    procs = {}
    try:
        for replica, port in ports.items():
            procs[replica] = _serve(env, replica, port, base)
        yield {"db": create_engine(db_url), "urls": {r: f"http://127.0.0.1:{p}/" for r, p in ports.items()},
               "procs": procs}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                stop_process(proc, 10)
        stop_process(chroma, 10)


def _rows(db, sql: str, **params) -> list:
    with db.connect() as conn:
        return conn.execute(text(sql), params).all()


def test_a_browser_session_continues_on_the_other_replica(deployment):
    from playwright.sync_api import sync_playwright

    urls, db = deployment["urls"], deployment["db"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        on_a = Tab(browser, urls["a"])
        on_a.open()
        on_a.ask("What is contributor timing?")
        on_a.page.locator("#aq-chat button[aria-label='Like']").last.click()
        stored = on_a.page.evaluate("() => localStorage.getItem('aq_coach_session')")
        assert stored, "the browser keeps its session in localStorage"
        # The load balancer sends the same browser (same stored session) to replica B.
        on_b = Tab(browser, urls["b"])
        on_b.page.goto(urls["b"])
        on_b.page.evaluate("(v) => localStorage.setItem('aq_coach_session', v)", stored)
        on_b.reload()
        on_b.page.wait_for_function("() => document.querySelector('#aq-chat').innerText.includes('contributor timing')")
        assert on_b.user_messages() == ["What is contributor timing?"]
        on_b.ask("How do I improve it?")
        on_b.page.locator("#aq-chat button[aria-label='Like']").last.click()
        assert "contributor timing" in on_b.chat_text().split("How do I improve it?")[-1].lower()
        browser.close()
    deadline = time.monotonic() + 15
    while len(_rows(db, "SELECT id FROM feedback")) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    session = _rows(db, "SELECT session_id FROM messages WHERE served_by = 'a' ORDER BY id LIMIT 1")[0][0]
    messages = _rows(db, "SELECT role, served_by FROM messages WHERE session_id = :s ORDER BY id", s=session)
    assert messages == [("user", "a"), ("assistant", "a"), ("user", "b"), ("assistant", "b")]
    feedback = _rows(db, "SELECT session_id, rating FROM feedback ORDER BY id")
    assert feedback == [(session, 1), (session, 1)]   # one from each replica, one table


def test_a_session_forgotten_through_one_replica_is_gone_on_the_other(deployment):
    """Forgotten through replica A's /forget_session, a session is gone on replica B at once: a page
    opened on B restores nothing, B answers a retried turn afresh, and B's page that still shows the
    chat carries on without it (a reload never brings it back)."""
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    urls, db = deployment["urls"], deployment["db"]
    question = "What is sprint-system continuity?"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        on_b = Tab(browser, urls["b"])
        on_b.open()
        on_b.ask(question)
        [(session,)] = _rows(db, "SELECT DISTINCT session_id FROM messages WHERE content = :q", q=question)
        a = Client(urls["a"], verbose=False)
        follow = a.predict("How do I improve it?", session, "t2", api_name="/chat_session")  # A continues B's chat
        assert "continuity" in follow.lower()
        done = a.predict(session, api_name="/forget_session")
        assert (done["conversations"], done["messages"], done["feedback"]) == (1, 4, 0)
        for table in ("conversations", "messages", "feedback"):
            assert _rows(db, f"SELECT id FROM {table} WHERE session_id = :s", s=session) == [], table
        same_browser = Tab(browser, urls["b"])             # the same browser session, opened again on B
        same_browser.page.goto(urls["b"])
        same_browser.page.evaluate("(v) => localStorage.setItem('aq_coach_session', v)",
                                   on_b.page.evaluate("() => localStorage.getItem('aq_coach_session')"))
        same_browser.reload()
        same_browser.page.wait_for_timeout(1000)
        assert same_browser.user_messages() == [] and question not in same_browser.chat_text()
        b = Client(urls["b"], verbose=False)
        alone = b.predict("How do I improve it?", uuid.uuid4().hex, "t", api_name="/chat_session")
        again = b.predict("How do I improve it?", session, "t2", api_name="/chat_session")   # the forgotten turn, retried
        assert again == alone and again != follow        # answered afresh, without the forgotten context
        on_b.ask("What is the swing side?", wait=False)  # B's page still shows the forgotten chat: it is not kept
        on_b.page.wait_for_function("() => document.querySelectorAll(\"#aq-chat [data-testid='user']\").length === 2 "
                                    "&& document.querySelector('#aq-chat').innerText.includes('What is the swing side?') "
                                    "&& !document.querySelector('#aq-input textarea').disabled")
        stored = ["How do I improve it?", "What is the swing side?"]   # what the database holds now
        assert on_b.user_messages() == stored and on_b.answers() == 2 and question not in on_b.chat_text()
        on_b.reload()
        on_b.page.wait_for_function("() => document.querySelectorAll(\"#aq-chat [data-testid='user']\").length >= 2")
        assert on_b.user_messages() == stored and question not in on_b.chat_text()
        browser.close()
    rows = _rows(db, "SELECT role, content, served_by FROM messages WHERE session_id = :s ORDER BY id", s=session)
    assert [r[0] for r in rows] == ["user", "assistant", "user", "assistant"] and question not in [r[1] for r in rows]
    assert {r[2] for r in rows} == {"b"}                   # all written anew by B since the forget


class _LoadRun:
    """Concurrent two-turn sessions over /chat_session; a failed turn is retried on the other replica."""

    def __init__(self, urls: dict, kill=None) -> None:
        self.urls, self.kill = urls, kill
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.failovers = 0
        self.sessions: list[str] = []
        self.lock = threading.Lock()
        self.dead: set[str] = set()

    def _turn(self, replica: str, session: str, question: str, turn: str) -> str:
        from gradio_client import Client

        problem = ""
        for r in [replica] + [r for r in self.urls if r != replica]:
            if r in self.dead and r == replica:
                with self.lock:
                    self.failovers += 1   # the load balancer knows it is down
                continue
            try:
                return Client(self.urls[r], verbose=False).predict(question, session, turn, api_name="/chat_session")
            except Exception as exc:  # noqa: BLE001 - the replica died under us: fail over
                with self.lock:
                    self.failovers += 1
                problem = f"{r}: {type(exc).__name__}: {exc}"
        raise RuntimeError(problem or "no replica left")

    def session(self, n: int) -> None:
        replica = "a" if n % 2 == 0 else "b"
        session = uuid.uuid4().hex
        with self.lock:
            self.sessions.append(session)
        first, second = QUESTIONS[n % len(QUESTIONS)]
        for i, question in enumerate((first, second)):
            started = time.perf_counter()
            try:
                answer = self._turn(replica, session, question, f"{session}-{i}")
                assert answer.strip(), "an empty answer"
            except Exception as exc:  # noqa: BLE001 - counted
                with self.lock:
                    self.errors.append(str(exc)[:200])
                return
            with self.lock:
                self.latencies.append(time.perf_counter() - started)

    def run(self, sessions: int) -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(sessions) as pool:
            futures = [pool.submit(self.session, n) for n in range(sessions)]
            if self.kill:
                self.kill(self)
            for f in futures:
                f.result()
        return time.perf_counter() - started


def _check_rows(db, sessions: list[str]) -> tuple[int, int]:
    """(lost, duplicated) messages for the run's sessions, counted in PostgreSQL."""
    lost = dup = 0
    for s in sessions:
        rows = _rows(db, "SELECT role, turn_id FROM messages WHERE session_id = :s ORDER BY id", s=s)
        want = [("user", f"{s}-0"), ("assistant", f"{s}-0"), ("user", f"{s}-1"), ("assistant", f"{s}-1")]
        lost += sum(1 for w in want if w not in rows)
        dup += len(rows) - len(set(rows))
    return lost, dup


def _figures(name: str, run: _LoadRun, seconds: float) -> str:
    lat = sorted(run.latencies)
    p95 = lat[int(0.95 * (len(lat) - 1))] if lat else float("nan")
    return (f"  {name}: {len(run.sessions)} sessions, {len(lat)} answers in {seconds:.1f} s = {len(lat) / seconds:.1f} "
            f"answers/s, p50 {statistics.median(lat) if lat else float('nan'):.2f} s, p95 {p95:.2f} s, "
            f"errors {len(run.errors)}, failovers {run.failovers}")


def test_load_across_replicas_and_one_replica_killed(deployment, request):
    urls, db, procs = deployment["urls"], deployment["db"], deployment["procs"]
    sessions = 2 * SESSIONS_PER_REPLICA

    both = _LoadRun(urls)
    both_s = both.run(sessions)
    assert not both.errors, both.errors[:5]
    assert _check_rows(db, both.sessions) == (0, 0)

    def kill_b(run: _LoadRun) -> None:
        # mid-run: once some first turns are answered, replica B dies without any chance to clean up
        deadline = time.monotonic() + 60
        while len(run.latencies) < sessions // 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        procs["b"].send_signal(signal.SIGKILL)
        procs["b"].wait(timeout=30)
        run.dead.add("b")

    killed = _LoadRun(urls, kill=kill_b)
    killed_s = killed.run(sessions)
    assert procs["b"].poll() is not None
    assert not killed.errors, killed.errors[:5]
    assert killed.failovers > 0, "replica B died before serving any turn of the run"
    lost, dup = _check_rows(db, killed.sessions)
    assert (lost, dup) == (0, 0)
    served_after = {r[0] for r in _rows(db, "SELECT DISTINCT served_by FROM messages WHERE id > "
                                            "(SELECT max(id) FROM messages WHERE served_by = 'b')")}
    assert served_after <= {"a"}, "after B died, only A served"
    report(request, ["replicas (2 × aq-coach serve, one chroma run, one PostgreSQL; composer):",
                     _figures("both replicas", both, both_s), _figures("replica B killed mid-run", killed, killed_s),
                     f"  rows: 0 lost, 0 duplicated (PostgreSQL, {len(both.sessions) + len(killed.sessions)} sessions)"])
