"""The `insights` figure: `aq-coach insights` over 10,000 stored questions, target ≤ 10 s.

The questions are synthetic but shaped like athletes': each is one of 400 real, distinct questions
from the labelled sets (embedded for real), blended with another and a little noise, so the vectors
form topics of uneven size with strays between them. Every question is stored with its answer, the
answer's vector and metadata (schema 3) and, for some, a rating, in a SQLite file of the run's own;
the figure is the whole service call (reading the rows, grouping, the topics' figures), as the CLI
and the maintainers' page make it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..config import Settings
from .figures import QUESTIONS, bench_questions, figure

TARGET_S = 10.0
_BASES = 400


def _synthetic_vectors(embeddings, n: int, seed: int = 28):
    """n unit vectors around 400 real questions' vectors, and which real question each is around."""
    import numpy as np

    questions = bench_questions()[:_BASES] or list(QUESTIONS)   # no labelled sets: the bench's own questions
    real = np.asarray(embeddings.embed_documents(questions), dtype=np.float32)
    rng = np.random.default_rng(seed)
    # uneven topics: a few questions are asked far more often than the rest
    weights = rng.pareto(1.2, len(real)) + 1
    base = rng.choice(len(real), size=n, p=weights / weights.sum())
    blend = real[base] + 0.35 * real[rng.integers(len(real), size=n)] + rng.normal(0, 0.02, (n, real.shape[1]))
    return questions, base, blend / np.linalg.norm(blend, axis=1, keepdims=True)


def _rows(questions: list[str], base, vectors, seed: int = 28):
    """The messages (a question and its answer per conversation) and the ratings to store."""
    import numpy as np

    from ..database import pack_vector

    rng = np.random.default_rng(seed)
    stamp = "2026-01-01T00:00:00.000000+00:00"
    messages, feedback = [], []
    for i, (b, vector) in enumerate(zip(base, vectors)):
        gap = bool(b % 7 == 0 and rng.random() < 0.8)
        meta = {"standalone": questions[b], "gap": gap, "guard": "passed", "support": round(float(rng.uniform(0.2, 0.8)), 3),
                "scope": "in", "intent": "general", "kind": "explain", "terms": [], "gaps": [f"topic {b % 7}"] if gap else []}
        messages.append({"id": 2 * i + 1, "conversation_id": i + 1, "session_id": f"s{i}", "role": "user",
                         "content": questions[b], "created_at": stamp, "question_vector": None, "answer_meta": None})
        messages.append({"id": 2 * i + 2, "conversation_id": i + 1, "session_id": f"s{i}", "role": "assistant",
                         "content": "An answer.", "created_at": stamp, "question_vector": pack_vector(vector),
                         "answer_meta": json.dumps(meta)})
        if rng.random() < 0.3:
            feedback.append({"created_at": stamp, "session_id": f"s{i}", "conversation_id": i + 1, "message_id": 2 * i + 2,
                             "rating": int(rng.choice([-1, 1])), "question": questions[b], "answer": "An answer.",
                             "sources": "[]", "comment": "too vague" if rng.random() < 0.2 else None})
    return messages, feedback


def stored_questions_db(path: Path, embeddings, n: int) -> str:
    """A SQLite database at path holding n synthetic questions with their answers; its URL."""
    from ..conversations import ConversationStore
    from ..database import conversations, feedback, messages

    questions, base, vectors = _synthetic_vectors(embeddings, n)
    store = ConversationStore(path)
    rows, ratings = _rows(questions, base, vectors)
    with store.engine.begin() as conn:   # executemany: every row names the same columns
        conn.execute(conversations.insert(), [{"id": i + 1, "session_id": f"s{i}", "created_at": rows[0]["created_at"]}
                                              for i in range(n)])
        conn.execute(messages.insert(), rows)
        if ratings:
            conn.execute(feedback.insert(), ratings)
    return store.url


def insights_figure(settings: Settings, embeddings, folder: Path, n: int = 10_000, runs: int = 3) -> dict:
    """Seconds for Insights.topics() over n stored questions (median of `runs`), against TARGET_S."""
    from ..insights import Insights

    url = stored_questions_db(Path(folder) / "insights.sqlite", embeddings, n)
    service = Insights(settings.model_copy(update={"database_url": url}), embeddings=embeddings)
    seconds, topics = [], []
    for _ in range(runs):
        t = time.perf_counter()
        topics = service.topics()
        seconds.append(time.perf_counter() - t)
    fig = figure("insights", [s * 1000 for s in seconds], value=sorted(seconds)[len(seconds) // 2], unit="s")
    fig.update(questions=n, topics=len(topics), runs=[round(s, 3) for s in seconds], target_s=TARGET_S,
               meets_target=fig["value"] <= TARGET_S)
    return fig
