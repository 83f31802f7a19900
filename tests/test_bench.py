"""`aq-coach bench --quick --json`: every figure the bench promises is there, with a number.

The real command runs as a subprocess (real MiniLM, real embedded Chroma in a temporary folder,
the real web UI under load, and the API load: two-turn `gradio_client` sessions against
`aq-coach serve` and against a trivial Gradio endpoint). Figures are measured, never asserted: no
test here depends on how fast this machine is; errors and wrong answers are asserted (none).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import SHIPPED_CORPUS, shipped_judge

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
COLD_AND_WARM = ("embed_query", "retrieval_shipped", "retrieval_10k", "composer_answer")
REQUIRED = (
    *COLD_AND_WARM,
    *(f"{name}_warm" for name in COLD_AND_WARM),
    "install_size_mb",
    "search_cold_process_s",
    "serve_ready_s",
    "ingest_chunks_per_s",
    "embed_chunks_per_s",
    "reingest_unchanged_s",
    "ui_cold_start_s",
    "ui_p95_under_load_ms",
    "api_load_trivial",
    "api_load_aq",
    "api_load_ratio",
    "insights",
)
API_LOADS = ("api_load_trivial", "api_load_aq")
LATENCIES = (*COLD_AND_WARM, *(f"{name}_warm" for name in COLD_AND_WARM), "ui_p95_under_load_ms", *API_LOADS)
BENCH_TIMEOUT_S = 720  # the quick bench also starts `aq-coach search` 6 times and two servers for serve_ready_s


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def quick_figures(tmp_path_factory):
    work = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AQ_")}
    env.update({"AQ_DATA_DIR": str(work / "data"), "AQ_CORPUS_DIR": str(ROOT / "corpus"), "HF_HUB_OFFLINE": "1",
                "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False"})
    # A session of its own: a bench that runs out of time is stopped with the servers it started,
    # which would otherwise outlive it (subprocess.run's timeout kills only the bench itself).
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "bench", "--quick", "--load-rounds", "2", "--json"], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=BENCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the quick bench took more than {BENCH_TIMEOUT_S} s")
    proc = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    assert not (work / "data").exists(), "the bench must leave the athlete's data dir alone"
    return data["figures"]


def test_bench_quick_reports_every_required_figure(quick_figures):
    by_name = {f["name"]: f for f in quick_figures}
    missing = [n for n in REQUIRED if n not in by_name]
    assert not missing, f"missing figures: {missing}; got {sorted(by_name)}"
    for name in REQUIRED:
        fig = by_name[name]
        assert set(fig) >= {"name", "p50_ms", "p95_ms", "value", "unit"}, fig
        assert _number(fig["value"]), fig
        assert isinstance(fig["unit"], str) and fig["unit"], fig
    for name in LATENCIES:  # measured from samples: both percentiles, in order
        fig = by_name[name]
        assert _number(fig["p50_ms"]) and _number(fig["p95_ms"]), fig
        assert fig["p50_ms"] <= fig["p95_ms"], fig
    load = by_name["ui_p95_under_load_ms"]
    assert load.get("errors") == 0, load
    assert load["value"] == load["p95_ms"], "ui_p95_under_load_ms must report the p95"
    assert by_name["retrieval_10k"].get("chunks", 0) > 0
    for name in COLD_AND_WARM:  # cold: distinct questions, each asked once; warm: the 10 QUESTIONS again and again
        cold, warm = by_name[name], by_name[f"{name}_warm"]
        assert cold["state"] == "cold" and cold["questions"] >= 20, cold
        assert warm["state"] == "warm" and warm["questions"] == 10, warm
    install = by_name["install_size_mb"]
    assert install["value"] > 100 and isinstance(install["torch_installed"], bool), install
    search = by_name["search_cold_process_s"]
    assert len(search["runs"]) == 5 and search["value"] == sorted(search["runs"])[2], search
    ready = by_name["serve_ready_s"]
    assert _number(ready["trivial_ready_s"]) and abs(ready["gap_s"] - (ready["value"] - ready["trivial_ready_s"])) < 0.002, ready
    assert len(ready["aq_runs"]) == len(ready["trivial_runs"]) >= 1 and isinstance(ready["meets_target"], bool), ready
    ingest = by_name["ingest_chunks_per_s"]
    assert _number(ingest["share_of_raw"]) and ingest["round_shares"], ingest
    for line in (f"{f['name']:<24} p50={f['p50_ms']} p95={f['p95_ms']} value={f['value']} {f['unit']}" for f in quick_figures):
        print(line)


def test_bench_quick_api_load_against_the_trivial_endpoint(quick_figures):
    """Both servers answered every request of every two-turn session; AQ's answers are the
    service's own for each conversation (follow-ups in their own context); the ratios are there."""
    by_name = {f["name"]: f for f in quick_figures}
    for name in API_LOADS:
        fig = by_name[name]
        assert fig["errors"] == 0, fig.get("error_examples", fig)
        assert fig["sessions"] >= 20 and fig["rounds"] >= 1, fig
        assert fig["answers"] == 2 * fig["sessions"] * fig["rounds"], fig  # two turns per session
        assert _number(fig["answers_per_s"]) and fig["answers_per_s"] > 0 and fig["value"] == fig["answers_per_s"], fig
        assert fig["unit"] == "answers/s", fig
        assert len(fig["runs"]) == fig["rounds"], fig
    aq = by_name["api_load_aq"]
    assert aq["wrong_answers"] == 0, aq["wrong_examples"]
    assert aq["follow_ups"] == aq["sessions"] * aq["rounds"], aq
    # The plan decides whether a follow-up leans on its previous turn (a learned prediction, about 0.8-0.95
    # right): most, not all, of the load's follow-ups are answered differently with their conversation.
    assert aq["context_mattered"] >= 0.8 * aq["follow_ups"], "the follow-ups should need their conversation to be answered"
    assert aq["rounds"] == 2, aq  # --load-rounds
    ratio = by_name["api_load_ratio"]
    assert _number(ratio["throughput_share"]) and _number(ratio["p95_ratio"]), ratio
    assert len(ratio["round_shares"]) == 2 and all(_number(x) and x > 0 for x in ratio["round_shares"]), ratio
    low, high = ratio["throughput_share_interval"]
    assert low <= ratio["throughput_share"] <= high, ratio
    assert isinstance(ratio["meets_target"], bool), ratio  # measured and reported, not asserted
    print(f"api load: AQ {aq['answers_per_s']} answers/s p95 {aq['p95_ms']} ms; trivial "
          f"{by_name['api_load_trivial']['answers_per_s']} answers/s p95 {by_name['api_load_trivial']['p95_ms']} ms; "
          f"share {ratio['throughput_share']}, p95 ratio {ratio['p95_ratio']}")



def test_load_rounds_alternate_which_endpoint_goes_first(monkeypatch):
    """The clients' CPU drifts over a bench: each endpoint gets as many first slots as second ones,
    and the ratio reports every round's share beside the pooled one."""
    from types import SimpleNamespace

    from assistant.bench import load as bench
    from assistant.config import Settings

    order, events, rates = [], [], iter([20.0, 18.0, 19.0, 20.0, 22.0, 20.0, 18.0, 18.0])

    def fake_start(args, env):
        events.append(("start", "aq" if "serve" in args else "trivial"))
        return SimpleNamespace(pid=None), " ".join(args), 0.1

    monkeypatch.setattr(bench, "start_server", fake_start)
    monkeypatch.setattr(bench, "stop", lambda proc: None)

    def fake_load(url, conversations, server_pid=None):
        order.append("aq" if "serve" in url else "trivial")
        events.append(("load", order[-1]))
        n = 2 * len(conversations)
        return {"latencies": [100.0] * n, "errors": [], "wall_s": n / next(rates), "results": [],
                "client_cpu_s": 1.0, "server_cpu_s": 1.0, "other_cpu_s": 0.0}

    monkeypatch.setattr(bench, "api_load_in_child", fake_load)
    monkeypatch.setattr(bench, "check_context", lambda run, conversations, expected: {
        "wrong_answers": 0, "wrong_examples": [], "context_mattered": len(conversations)})
    service = SimpleNamespace(glossary=[SimpleNamespace(term="swing side")])
    trivial, aq, ratio = bench.api_load_figures(Settings(), Settings().data_dir, 4, service, lambda msg: None, rounds=4)
    assert order == ["trivial", "aq", "aq", "trivial", "trivial", "aq", "aq", "trivial"]
    # both servers of a round are ready before either is loaded: its two runs are seconds apart
    assert [kind for kind, _ in events] == ["start", "start", "load", "load"] * 4
    # rounds in the order run: trivial 20, aq 18 | aq 19, trivial 20 | trivial 22, aq 20 | aq 18, trivial 18
    assert ratio["round_shares"] == [0.9, 0.95, 0.909, 1.0]
    low, high = ratio["throughput_share_interval"]
    assert 0.9 <= low <= ratio["throughput_share"] <= high <= 1.0
    assert trivial["rounds"] == aq["rounds"] == 4
    assert ratio["throughput_share"] == round(aq["answers_per_s"] / trivial["answers_per_s"], 3)


def _run(answers: int, rate: float) -> dict:
    return {"latencies": [100.0] * answers, "wall_s": answers / rate}


def test_the_share_interval_brackets_the_pooled_share_within_the_rounds_range():
    """The bootstrap interval over rounds: it holds the pooled share, never leaves the range of the
    single rounds' shares (a pooled share is a weighted mean of them), narrows to a point when
    every round agrees, and is the same on every call."""
    from assistant.bench import share_interval

    trivial = [_run(100, r) for r in (20.0, 20.0, 22.0, 18.0, 25.0, 19.0)]
    aq = [_run(100, r) for r in (18.0, 19.0, 20.0, 18.0, 20.0, 19.5)]
    shares = [a / t for a, t in zip((18.0, 19.0, 20.0, 18.0, 20.0, 19.5), (20.0, 20.0, 22.0, 18.0, 25.0, 19.0))]
    pooled = (600 / sum(r["wall_s"] for r in aq)) / (600 / sum(r["wall_s"] for r in trivial))
    low, high = share_interval(trivial, aq)
    assert min(shares) - 1e-3 <= low <= pooled <= high <= max(shares) + 1e-3
    assert high - low > 0.02  # these rounds disagree: the interval says so
    assert share_interval(trivial, aq) == [low, high]
    same = share_interval([_run(100, 20.0)] * 5, [_run(100, 19.0)] * 5)
    assert same == [0.95, 0.95]
    assert share_interval(trivial[:1], aq[:1]) is None  # one round says nothing about its own spread


def test_the_load_clients_run_in_a_process_of_their_own_and_report_what_failed():
    """api_load_in_child: a fresh process runs the sessions; a server that is not there is
    reported per session, as the figures count it, not raised."""
    import socket

    from assistant.bench import load as bench

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens on it once closed
    run = bench.api_load_in_child(f"http://127.0.0.1:{port}/", [("What is swing side?", "And the pushing side?")])
    assert run["latencies"] == [] and len(run["errors"]) == 1 and "connect" in run["errors"][0], run["errors"]
    assert run["results"] == [None] and run["client_cpu_s"] is not None


def test_a_server_that_is_not_ready_in_time_is_stopped(monkeypatch):
    from assistant.bench import servers as bench

    started = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", popen)
    with pytest.raises(RuntimeError, match="not ready within 1 s"):
        bench.start_server(["-c", "import time; time.sleep(60)"], dict(os.environ), timeout_s=1)
    assert started and started[0].poll() is not None, "the server that never got ready is not left running"


def test_a_round_that_fails_stops_the_servers_it_started(monkeypatch):
    from types import SimpleNamespace

    from assistant.bench import load as bench
    from assistant.config import Settings

    started, stopped = [], []

    def fake_start(args, env):
        if started:
            raise RuntimeError("the second server exited with 1 before it was ready")
        started.append(SimpleNamespace(pid=None))
        return started[-1], "url", 0.1

    monkeypatch.setattr(bench, "start_server", fake_start)
    monkeypatch.setattr(bench, "stop", stopped.append)
    service = SimpleNamespace(glossary=[SimpleNamespace(term="swing side")])
    with pytest.raises(RuntimeError, match="second server"):
        bench.api_load_figures(Settings(), Settings().data_dir, 2, service, lambda msg: None, rounds=2)
    assert stopped == started


def test_cold_figures_ask_distinct_questions_from_the_labelled_sets(tmp_path):
    """The plan sets when there are any (families[].questions[].q), else the eval sets' questions;
    never one of the warm figures' 10 QUESTIONS, never the same question twice; a file that does
    not parse (being written) is left out."""
    from assistant.bench import QUESTIONS, bench_questions

    datasets = tmp_path / "evals" / "datasets"
    (datasets / "plan").mkdir(parents=True)
    (datasets / "answers.yaml").write_text("cases:\n  - question: 'What is the swing side?'\n", encoding="utf-8")
    assert bench_questions(tmp_path) == ["What is the swing side?"]
    (datasets / "plan" / "a.yaml").write_text(
        "families:\n  - questions:\n      - q: 'Why do I feel slow?'\n      - q: 'Why do I feel slow?'\n"
        f"      - q: '{QUESTIONS[0]}'\n  - questions:\n      - q: 'What is contributor timing, really?'\n", encoding="utf-8")
    (datasets / "plan" / "b.yaml").write_text("families: [unclosed", encoding="utf-8")
    assert sorted(bench_questions(tmp_path)) == ["What is contributor timing, really?", "Why do I feel slow?"]
    real = bench_questions()
    plan_sets = list((ROOT / "evals" / "datasets" / "plan").glob("*.yaml"))
    assert len(real) >= (200 if plan_sets else 100), len(real)
    assert len(set(real)) == len(real) and not set(real) & set(QUESTIONS)


def test_clearing_the_memos_forgets_questions_but_keeps_loaders():
    from types import SimpleNamespace

    from assistant import bench, doctrine, retrieval

    retrieval.tokenize("Why does my sprint feel heavy?")
    doctrine.load(SHIPPED_CORPUS / "doctrine.yaml")
    judge = shipped_judge()
    judge.judge_sentence("Coordination drives speed.")
    holder = SimpleNamespace(_vectors={"q": [0.0]}, framing=judge)
    assert retrieval._tokens.cache_info().currsize > 0
    loaded = doctrine._load_cached.cache_info().currsize
    assert bench.clear_memos(holder) >= 2
    assert retrieval._tokens.cache_info().currsize == 0 and holder._vectors == {}
    assert judge._analyse.cache_info().currsize == 0, "a new question's sentences are judged afresh"
    assert doctrine._load_cached.cache_info().currsize == loaded


def test_the_install_size_is_the_environments():
    from assistant.bench import install_size_mb

    assert install_size_mb(sys.prefix) > 50


def test_the_insights_figure_reads_stored_vectors_and_groups_them(tmp_path, settings, embeddings):
    """The `insights` figure's questions are stored with their vectors (nothing to embed when read), and
    the figure is the service's whole call over them."""
    from sqlalchemy import create_engine, text

    from assistant.bench.insights import TARGET_S, insights_figure, stored_questions_db

    url = stored_questions_db(tmp_path / "q.sqlite", embeddings, 500)
    with create_engine(url).connect() as conn:
        stored = conn.execute(text("SELECT count(question_vector), count(answer_meta) FROM messages")).one()
    assert tuple(stored) == (500, 500)
    fig = insights_figure(settings, embeddings, tmp_path / "fig", n=800, runs=1)
    assert fig["name"] == "insights" and fig["unit"] == "s" and _number(fig["value"]) and fig["questions"] == 800
    assert 10 < fig["topics"] < 800 and fig["target_s"] == TARGET_S and isinstance(fig["meets_target"], bool)
