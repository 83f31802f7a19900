"""The insights eval: labelled athletes' conversations seeded into a database, and how well
`aq-coach insights` finds their topics' verdicts.

`evals/insights/seed_conversations.yaml` holds topics (written blind to the code), each labelled
`content_gap`, `answer_failure` or `ok` and put in the `tune` or `held_out` split, with conversations
(one or more turns), a rating of the last answer (up / down / none) and sometimes a comment.

- `seed_store` plays every conversation through the real answering service *and the chat
  controller* (assistant.chat: the same code the web chat runs, so the answers are stored with their
  vectors and metadata exactly as athletes' are), then rates the last answer and adds the comment
  through the controller's thumbs and comment box.
- `score` compares insights' topics with the labels: a seed topic is *found* as the verdict of the
  insights topic that holds most of its questions; precision and recall of `content_gap` and of
  `answer_failure` over the seed topics of each split.
- `choose_rules` picks the grouping threshold and the verdict shares on the `tune` topics only.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import PROJECT_ROOT
from ..insights import VERDICTS, AskedQuestion, Topic, TopicRules, insights_from_rows

SEED = PROJECT_ROOT / "evals" / "insights" / "seed_conversations.yaml"
FRESH = PROJECT_ROOT / "evals" / "insights" / "fresh_conversations.yaml"   # written blind later: never tuned on
SPLITS = ("tune", "held_out", "fresh")
FLAGS = ("content_gap", "answer_failure")
COSINE_GRID = tuple(round(0.30 + 0.05 * n, 2) for n in range(11))        # 0.30 … 0.80
GAP_GRID = tuple(round(0.20 + 0.05 * n, 2) for n in range(13))           # 0.20 … 0.80
DOWN_GRID = tuple(round(0.10 + 0.05 * n, 2) for n in range(11))          # 0.10 … 0.60


@dataclass
class SeedConversation:
    turns: list[str]
    rating: str = "none"            # up | down | none: of the conversation's last answer
    comment: str | None = None


@dataclass
class SeedTopic:
    id: str
    label: str                      # content_gap | answer_failure | ok
    split: str                      # tune | held_out
    conversations: list[SeedConversation] = field(default_factory=list)


def load_seed(path: Path = SEED) -> list[SeedTopic]:
    """The labelled topics; a malformed file is a ValueError naming the topic."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    topics = []
    for item in data.get("topics") or []:
        topic = SeedTopic(str(item.get("id")), str(item.get("label")), str(item.get("split")))
        if topic.label not in VERDICTS or topic.split not in SPLITS:
            raise ValueError(f"{path}: topic {topic.id} has label {topic.label!r} / split {topic.split!r}")
        for conv in item.get("conversations") or []:
            turns = [str(t) for t in conv.get("turns") or [] if str(t).strip()]
            if not turns or conv.get("rating", "none") not in ("up", "down", "none"):
                raise ValueError(f"{path}: topic {topic.id} has a conversation without turns or with a bad rating")
            topic.conversations.append(SeedConversation(turns, conv.get("rating", "none"), conv.get("comment")))
        topics.append(topic)
    return topics


def seed_store(service, store, seed: list[SeedTopic], glossary=None) -> dict[int, str]:
    """Every seed conversation played through the chat controller (a session each), its last answer
    rated and commented as an athlete would; returns {question message id: seed topic id}."""
    from ..chat import ChatController

    controller = ChatController(service, store, glossary if glossary is not None else service.glossary)
    asked: dict[int, str] = {}
    for topic in seed:
        for n, conv in enumerate(topic.conversations):
            session = hashlib.md5(f"{topic.id}/{n}".encode()).hexdigest()   # 32 hex characters, as the browser's
            chat: list[dict] = []
            turns: list[dict] = []
            for question in conv.turns:
                for step in controller.respond(question, session, chat, turns):
                    chat, turns = step.chat, step.turns
            asked.update({t["message_id"]: topic.id for t in turns if t["role"] == "user" and t.get("message_id")})
            if conv.rating != "none":
                rated = controller.like(session, turns, len(turns) - 1, "Like" if conv.rating == "up" else "Dislike")
                if conv.comment and rated.feedback_id is not None:
                    controller.save_comment(session, rated.feedback_id, conv.comment)
    return asked


# --- scoring -------------------------------------------------------------------------------------

def found_labels(topics: list[Topic], asked: dict[int, str]) -> dict[str, str]:
    """{seed topic id: the verdict of the insights topic holding most of its questions}."""
    where = {qid: n for n, t in enumerate(topics) for qid in t.question_ids}
    holding: dict[str, Counter] = {}
    for qid, seed_id in asked.items():
        if qid in where:
            holding.setdefault(seed_id, Counter())[where[qid]] += 1
    return {seed_id: topics[counts.most_common(1)[0][0]].verdict for seed_id, counts in holding.items()}


def _pairwise_f1(topics: list[Topic], asked: dict[int, str], ids: set[str]) -> float:
    """How well the grouping keeps the split's seed topics together and apart (pairs of questions)."""
    where = {qid: n for n, t in enumerate(topics) for qid in t.question_ids}
    items = [(seed_id, where[q]) for q, seed_id in asked.items() if seed_id in ids and q in where]
    same_seed = Counter(s for s, _ in items)
    same_topic = Counter(t for _, t in items)
    both = Counter(items)
    pairs = lambda c: sum(n * (n - 1) // 2 for n in c.values())  # noqa: E731
    tp, grouped, together = pairs(both), pairs(same_topic), pairs(same_seed)
    p, r = (tp / grouped if grouped else 0.0), (tp / together if together else 0.0)
    return round(2 * p * r / (p + r), 3) if p + r else 0.0


def score(topics: list[Topic], asked: dict[int, str], seed: list[SeedTopic]) -> dict:
    """Per split: precision and recall of content_gap and answer_failure over its seed topics, the
    pairwise F1 of the grouping, and each seed topic's label beside the verdict found for it."""
    found = found_labels(topics, asked)
    out = {}
    for split in [s for s in SPLITS if any(t.split == s for t in seed)]:
        mine = [t for t in seed if t.split == split]
        figures: dict = {"topics": len(mine), "pairwise_f1": _pairwise_f1(topics, asked, {t.id for t in mine})}
        for flag in FLAGS:
            hit = sum(found.get(t.id) == flag and t.label == flag for t in mine)
            said = sum(found.get(t.id) == flag for t in mine)
            real = sum(t.label == flag for t in mine)
            figures[flag] = {"precision": round(hit / said, 3) if said else 0.0, "recall": round(hit / real, 3) if real else 0.0}
        figures["found"] = {t.id: {"label": t.label, "found": found.get(t.id, "missing")} for t in mine}
        out[split] = figures
    return out


def worst(figures: dict) -> float:
    """The lowest of a split's four figures (precision and recall of both flags)."""
    return min(figures[flag][k] for flag in FLAGS for k in ("precision", "recall"))


# --- choosing the thresholds on the tune split ----------------------------------------------------

@dataclass
class Choice:
    rules: TopicRules
    sweeps: dict                    # per cosine: its best worst tune figure, the share values reaching it, pairwise F1


def _middle(plateau: list[float]) -> float:
    """The middle of the best values (the lower one of two): as far from both edges as the grid allows."""
    return plateau[(len(plateau) - 1) // 2]


def choose_rules(rows: list[AskedQuestion], asked: dict[int, str], seed: list[SeedTopic], base: TopicRules,
                 **corpus) -> Choice:
    """The grouping cosine, the gap share and the down share, chosen on the tune topics only.

    For each cosine on the grid, the gap share and the down share are swept one at a time (the other
    at its value in `base`), scoring the worst tune figure (precision and recall of both flags). The
    cosine chosen has the best worst figure, then the most share values reaching it (the widest
    margin: its verdicts do not hinge on one exact threshold), then the best tune pairwise F1; each
    share is then the middle of the values that reach it at that cosine."""
    tune = [t for t in seed if t.split == "tune"]

    def tune_figures(rules: TopicRules) -> dict:
        return score(insights_from_rows(rows, rules, **corpus), asked, tune)["tune"]

    sweeps: dict[float, dict] = {}
    for cosine in COSINE_GRID:
        at = replace(base, topic_cosine=cosine)
        gap = {v: worst(tune_figures(replace(at, gap_share=v))) for v in GAP_GRID}
        down = {v: worst(tune_figures(replace(at, down_share=v))) for v in DOWN_GRID}
        best = max(*gap.values(), *down.values())
        sweeps[cosine] = {"worst": best, "gap_share": [v for v, w in gap.items() if w == best],
                          "down_share": [v for v, w in down.items() if w == best],
                          "pairwise_f1": tune_figures(at)["pairwise_f1"]}
    key = {c: (s["worst"], len(s["gap_share"]) + len(s["down_share"]), s["pairwise_f1"]) for c, s in sweeps.items()}
    top = max(key.values())
    cosine = _middle([c for c, k in key.items() if k == top])
    chosen = sweeps[cosine]
    rules = replace(base, topic_cosine=cosine, gap_share=_middle(chosen["gap_share"] or [base.gap_share]),
                    down_share=_middle(chosen["down_share"] or [base.down_share]))
    return Choice(rules, {str(c): s for c, s in sweeps.items()})


def summary_lines(figures: dict, label: str) -> list[str]:
    """The figures as report lines (tests/helpers.report prints them)."""
    lines = []
    for split in figures:
        f = figures[split]
        lines.append(f"insights {label} {split:<8} ({f['topics']} seed topics, pairwise F1 {f['pairwise_f1']:.2f}): "
                     + "  ".join(f"{flag} P={f[flag]['precision']:.2f} R={f[flag]['recall']:.2f}" for flag in FLAGS))
        missed = [f"{sid} ({v['label']} → {v['found']})" for sid, v in f["found"].items() if v["label"] != v["found"]]
        if missed:
            lines.append(f"    missed: {', '.join(missed)}")
    return lines

