"""Streaming with the real SmolLM2 through llama.cpp: partial answers reach the API and the browser
while the model is still generating, and a causal sentence the model really writes never does.

Each generation is timed where it happens (a wrapper on the real backend's `stream`), and the
client's arrival times are compared with it on the same clock.

- The streaming tests relax the grounding check (every sentence counts as supported). SmolLM2's
  sentences rarely pass it, and then the composer replaces the answer. The mechanics under test
  are when text arrives, not whether it is grounded.
- The violation test keeps every guard on. It feeds SmolLM2 an article with a causal line, which
  the model copies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import judge_framing, report
from test_ui import CHROMIUM, CHROMIUM_ARGS, Tab, _start

from assistant.answering import AnsweringService
from assistant.conversations import ConversationStore

pytestmark = [pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parent.parent
CAUSAL = "reason elite sprinters are fast"
POISONED = """---
title: Why Elite Sprinters Are Fast
slug: why-elite-sprinters-are-fast
---

# Why Elite Sprinters Are Fast

## Introduction

Coordination is the reason elite sprinters are fast.

Elite sprinters are fast because coordination makes them fast.

Contributor timing stays clean as speed rises in elite sprinters.
"""


class TimedBackend:
    """The real llama.cpp backend, with each generation's start and end times and its raw text kept."""

    def __init__(self, real) -> None:
        self.real, self.name, self.runs = real, real.name, []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def stream(self, request):
        run = {"start": time.time(), "end": None, "text": ""}
        self.runs.append(run)
        try:
            for piece in self.real.stream(request):
                run["text"] += piece
                yield piece
        finally:
            run["end"] = time.time()


def _smol_service(settings, searcher, glossary, **update) -> tuple[AnsweringService, TimedBackend]:
    settings = settings.model_copy(update={"backend": "llamacpp", "max_tokens": 128, "k": 2, **update})
    probe = AnsweringService(settings, searcher, glossary)
    timed = TimedBackend(probe.answerer("llamacpp"))   # the real SmolLM2, loaded once per process
    return AnsweringService(settings, searcher, glossary, answerer=timed), timed


@pytest.fixture(scope="module")
def smol_app(indexed_settings, searcher, glossary, tmp_path_factory):
    from assistant.ui import build_app

    service, timed = _smol_service(indexed_settings, searcher, glossary, grounding_cosine=-1.0)
    store = ConversationStore(tmp_path_factory.mktemp("smol") / "app.sqlite")
    demo = build_app(service, store, glossary, service.settings)
    url = _start(demo, service.settings)
    yield url, timed
    demo.close()


def test_api_partial_outputs_arrive_while_smollm2_generates(smol_app, request):
    from gradio_client import Client

    url, timed = smol_app
    before = len(timed.runs)
    job = Client(url, verbose=False).submit("Explain contributor timing and swing-side thrust.", api_name="/chat")
    arrivals: list[tuple[float, str]] = []
    while not job.done():
        outputs = job.outputs()
        if outputs and (not arrivals or outputs[-1] != arrivals[-1][1]):
            arrivals.append((time.time(), outputs[-1]))
        time.sleep(0.01)
    final = job.result()
    first_run = timed.runs[before]
    distinct = list(dict.fromkeys(job.outputs()))
    assert len(distinct) >= 2, distinct          # several partial outputs, not one at the end
    assert arrivals[0][0] < first_run["end"], "the first sentence arrived only after the generation ended"
    assert final == job.outputs()[-1]
    report(request, [f"SmolLM2 via /chat: first partial {arrivals[0][0] - first_run['start']:.2f} s after the "
                     f"generation began, generation ended at {first_run['end'] - first_run['start']:.2f} s, "
                     f"{len(distinct)} distinct outputs, last at {arrivals[-1][0] - first_run['start']:.2f} s"])


def test_the_browser_message_grows_while_smollm2_generates(smol_app, request):
    from playwright.sync_api import sync_playwright

    url, timed = smol_app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = Tab(browser, url)
        tab.open()
        tab.page.evaluate("""() => { window.aqGrowth = [];
            new MutationObserver(() => { const bots = document.querySelectorAll("#aq-chat [data-testid='bot']");
                const last = bots[bots.length - 1]; if (!last) return;
                const n = last.innerText.trim().length, g = window.aqGrowth;
                if (!g.length || g[g.length - 1][1] !== n) g.push([Date.now(), n]); })
            .observe(document.querySelector('#aq-chat'), {subtree: true, childList: true, characterData: true}); }""")
        before = len(timed.runs)
        tab.ask("Explain the swing side and the pushing side.")
        growth = tab.page.evaluate("() => window.aqGrowth")
        browser.close()
    run = timed.runs[before]
    during = [(t / 1000, n) for t, n in growth if t / 1000 < run["end"] and n > 1]
    assert during, (growth, run)                         # text was shown while the model was still generating …
    assert growth[-1][1] > during[0][1], (growth, run)   # … and the message grew from there
    report(request, ["SmolLM2 in the browser (ms after the generation began: characters shown): "
                     + ", ".join(f"{(t - run['start']) * 1000:.0f}: {n}" for t, n in during[:8])
                     + f"; generation ended at {(run['end'] - run['start']) * 1000:.0f} ms"])


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory, embeddings):
    """A corpus with an article whose lines say coordination causes speed: SmolLM2 copies them."""
    import shutil

    from assistant.config import get_settings
    from assistant.indexing import ingest_corpus

    base = tmp_path_factory.mktemp("poisoned")
    shutil.copytree(ROOT / "corpus", base / "corpus")
    (base / "corpus" / "why-elite-sprinters-are-fast.md").write_text(POISONED, encoding="utf-8")
    settings = get_settings(data_dir=base / "data", corpus_dir=base / "corpus")
    ingest_corpus(settings, embeddings=embeddings)
    return settings


def test_a_causal_sentence_smollm2_writes_never_reaches_the_api_or_the_cli(poisoned, embeddings, glossary, tmp_path):
    from gradio_client import Client

    from assistant.indexing import open_searcher
    from assistant.ui import build_app

    service, timed = _smol_service(poisoned, open_searcher(poisoned, embeddings), glossary)
    demo = build_app(service, ConversationStore(tmp_path / "app.sqlite"), glossary, service.settings)
    try:
        job = Client(_start(demo, service.settings), verbose=False).submit("What makes elite sprinters fast?",
                                                                           api_name="/chat")
        seen = []
        while not job.done():
            seen.extend(o for o in job.outputs() if o not in seen)
            time.sleep(0.01)
        seen.append(job.result())
    finally:
        demo.close()
    assert any(CAUSAL in run["text"].lower() for run in timed.runs), "SmolLM2 did not write the causal line this time"
    assert not any(CAUSAL in s.lower() for s in seen) and all(judge_framing(s).verdict == "pass" for s in seen if s.strip())

    env = {**os.environ, "AQ_CORPUS_DIR": str(poisoned.corpus_dir), "AQ_DATA_DIR": str(poisoned.data_dir),
           "AQ_MAX_TOKENS": "96", "AQ_K": "2"}
    done = subprocess.run([sys.executable, "-m", "assistant", "ask", "What makes elite sprinters fast?",
                           "--backend", "llamacpp"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert CAUSAL not in done.stdout.lower() and judge_framing(done.stdout).verdict == "pass", done.stdout
