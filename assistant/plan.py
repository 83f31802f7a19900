"""The question plan: what one turn asks, worked out once, read by every later step.

A plan holds the standalone question (a follow-up made whole), the kind of ask (see
`plan_model.KINDS`), the AQ terms it targets, the stance it asks about (sprinting improving or
disrupted), the topics it names that AQ's articles don't cover, and, for a two-part question, the
plan of each part. The kind, the stance, whether a question leans on the previous turn and the
terms it implies are predicted by a model trained on labelled athlete questions
(`assistant.plan_model`); patterns remain only for lexical facts (the glossary terms a question
names, not-covered and off-topic words, injury and injection). Retrieval, the composer, the LLM
prompt and the guard read the plan; nothing classifies again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .corpus import Glossary
from .doctrine import Doctrine
from .plan_model import KINDS, SAFE_KIND, Featurizer, PlanModel, Prediction, the_ask
from .scope import is_injection, named_terms

# "…mean, and what should I work on?": a second question joined to the first (sentence structure,
# not a kind of ask: each part is then planned by the model).
_SECOND = re.compile(r"(?:,?\s+and\s+|\?\s+(?:(?:also|and|plus|btw|oh|but|then)\W+)*|;\s+)"
                     r"(?=(?:what|how|why|should|is|are|does|do|can|when|which)\b)", re.I)
_ASKS = re.compile(r"(?:^|[.?!]['\"\u2019\u201d]?\s+)(?:what|how|why|should|is|are|does|do|can|when|which)\b|\?", re.I)
# A contrast compares two situations, and says so ("…but…", "…while…", "than", "vs"): a lexical fact
# the answer's shape relies on, since it describes both sides.
_TWO_SITUATIONS = re.compile(r"\b(but|while|whereas|vs|versus|than|compared|yet|though|although|instead|other (?:days|times)"
                             r"|differen\w*|same|then|until|after|before|once)\b", re.I)
# A question that asks what/how/why (or says "define …") takes no yes/no verdict ("when a kid says 'that felt coordinated',
# what's actually going on?"): sentence structure, read on the last ask after a leading when/if clause.
_WH_ASK = re.compile(r"^\W*(?:(?:so|ok|okay|and|but|well|wait|then|pls|please)\W+)*(?:what|how|why|where|which|who|"
                     r"define|explain|describe)\b", re.I)
_LEADING_CLAUSE = re.compile(r"^\W*(?:when|if|once|after|before|while|since)\b.*?(?:,|\bthen\b)\s*", re.I)
_NO_TARGETS = ("greeting", "out_of_scope", "not_covered")   # kinds that target no AQ term of a previous turn
# The plan model's negation feature, not text.NEGATION: its weights were learned with exactly this list
# (a changed list is a new FEATURE_VERSION, and a retrained model).
_NEGATION = re.compile(r"\b(not|no|never|isn'?t|aren'?t|doesn'?t|don'?t|without)\b|n't\b", re.I)


@dataclass(frozen=True)
class QuestionPlan:
    question: str                    # as the athlete asked it (cleaned)
    standalone: str                  # the question with a follow-up's missing context filled in
    kind: str                        # one of plan_model.KINDS
    intent: str                      # injection | injury | out_of_scope | greeting | doctrine | term | feel | training | general
    terms: tuple[str, ...] = ()      # AQ terms targeted: named first, then implied
    named: tuple[str, ...] = ()      # AQ terms the question names itself
    stance: str = ""                 # improving | disrupted | "" (neither)
    gaps: tuple[str, ...] = ()       # not-covered topics the question names (doctrine.yaml: not_covered)
    parts: tuple[QuestionPlan, ...] = ()   # a two-part question: each part's plan
    in_scope: bool = True
    confidence: float = 1.0          # the model's probability for the kind
    follows: bool = False            # it leans on the previous turn
    set_aside: bool = False          # an off-topic part ("what should I eat?") was left out; the rest is planned
    why: str = ""                    # why the plan took a safe shape, when it did
    model_kind: str = ""             # the model's own best kind (kind differs when the plan took a safe shape)

    @property
    def wants_training(self) -> bool:
        return self.kind == "work_on"

    def as_dict(self) -> dict:
        out = {"standalone": self.standalone, "kind": self.kind, "intent": self.intent, "terms": list(self.terms),
               "stance": self.stance, "gaps": list(self.gaps), "parts": [p.standalone for p in self.parts],
               "confidence": round(self.confidence, 3), "follows": self.follows}
        if self.why:
            out["why"] = self.why
        if self.set_aside:
            out["set_aside"] = True
        return out


def _asks_wh(question: str) -> bool:
    """The last thing asked is a what/how/why question, not a yes/no one."""
    asked = re.split(r"(?<=[.?!:])\s+", the_ask(question).strip())[-1]
    return bool(_WH_ASK.match(_LEADING_CLAUSE.sub("", asked, count=1)))


def _parts(question: str) -> list[str]:
    """The two questions of a two-part question ("What does that mean, and what should I work on?"),
    or [] for one question. The first part keeps what comes before it, for context."""
    text = question.strip()
    splits = list(_SECOND.finditer(text))
    if not splits:
        return []
    cut = splits[-1]
    head, tail = text[:cut.start()].strip(" ,;"), text[cut.end():].strip()
    asked = text[:cut.start() + 1] if text[cut.start()] == "?" else head   # "Any tips on meals?" asks too
    if len(head.split()) < 3 or len(tail.split()) < 3 or not _ASKS.search(asked):
        return []
    return [head if head.endswith("?") else head + "?", tail]


class QuestionPlanner:
    """Plans turns with a trained PlanModel; `embed` gives MiniLM vectors for a list of texts."""

    def __init__(self, model: PlanModel, glossary: Glossary | None, doctrine: Doctrine,
                 embed: Callable[[list[str]], list], confidence_floor: float = 0.3) -> None:
        self.model = model
        self.glossary = glossary or Glossary([])
        self.doctrine = doctrine
        self.embed = embed
        self.floor = confidence_floor
        self.featurizer = featurizer(self.glossary, doctrine)

    def predict(self, question: str, previous: str = "") -> Prediction:
        texts = [question, previous] if previous else [question]
        vectors = self.embed(texts)
        row = self.featurizer.row(question, previous, vectors[0], vectors[1] if previous else None)
        return self.model.predict_rows(row[None, :])[0]

    def plan(self, question: str, history: list[dict], condense: Callable[[str], str | None] | None = None) -> QuestionPlan:
        """The plan for one turn. `condense` (an LLM, when there is one) rewrites a follow-up as a
        standalone question; without it, the previous question is put in front of the follow-up."""
        previous = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
        plan = self._plan_one(question, previous, condense)
        if plan.intent == "out_of_scope" or (plan.in_scope and plan.intent not in ("injection", "injury")
                                             and plan.kind not in ("about_aq", "greeting")):
            pieces = _parts(question)
            if pieces:
                parts = tuple(self._plan_one(p, previous if n == 0 else pieces[0], None, part=True)
                              for n, p in enumerate(pieces))
                off_topic = [part.intent == "out_of_scope" for part in parts]
                if any(off_topic) and not all(off_topic):
                    return self._sprinting_part(pieces, parts, previous, condense)
                if not plan.in_scope:
                    return plan
                plan = replace(plan, parts=parts, gaps=tuple(dict.fromkeys(g for p in parts for g in p.gaps)))
        return plan

    def _sprinting_part(self, pieces: list[str], parts: tuple[QuestionPlan, ...], previous: str, condense) -> QuestionPlan:
        """"What should I eat before a 400? Also how do I stop my form falling apart?": the off-topic
        part is set aside (the answer says so) and the other part is planned as the question."""
        kept = next(piece for piece, part in zip(pieces, parts) if part.intent != "out_of_scope")
        return replace(self._plan_one(kept, previous, condense), set_aside=True)

    def _terms(self, text: str, predicted: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        named = tuple(named_terms(text, self.glossary))
        known = {t.term for t in self.glossary}
        return named, named + tuple(t for t in predicted if t not in named and t in known)

    def _plan_one(self, question: str, previous: str, condense, *, part: bool = False) -> QuestionPlan:
        p = self.predict(question, previous)
        follows = bool(previous) and p.follows and not part
        named, terms = self._terms(question, p.terms)
        standalone = question
        before = self.predict(previous) if previous and not part else None
        everyday = tuple(t.term for t in self.glossary.expansions(question))
        lends_nothing = before is not None and before.kind == "out_of_scope" and not named and not everyday
        if (lends_nothing and (follows or not terms) and not is_injection(question, self.doctrine)
                and not self.doctrine.mentions_injury(question)):
            # "how do I fix that?" after "what should I eat?": an off-topic turn lends no topic
            return QuestionPlan(question, question, "out_of_scope", "out_of_scope", in_scope=False,
                                confidence=p.kind_confidence, follows=True)
        if follows:
            # "ok what about knee drive then?" names its own topic: the previous question would only blur it
            everyday_topic = tuple(t for t in everyday if t in terms)
            standalone = (question if named else f"{question} ({', '.join(everyday_topic)})" if everyday_topic
                          else f"{previous} {question}")
            condensed = condense(question) if condense is not None else None
            if condensed and 8 <= len(condensed) <= 400:
                standalone = condensed.splitlines()[0]
        if previous and not part and p.kind not in _NO_TARGETS:
            before_named, before_terms = self._terms(previous, before.terms)
            if not named and (follows or not terms):
                # "how can I tell if mine is improving?": the previous turn's terms
                terms = tuple(dict.fromkeys(terms + before_terms))
                named = before_named
            elif named and follows:
                # "same thing as contributor timing?" after "what's sprint-system cycling?": both
                terms = tuple(dict.fromkeys(named + before_named[:1] + terms))
        if p.kind in _NO_TARGETS:
            terms = named if p.kind == "not_covered" else ()
        kind, why = p.kind, ""
        if kind == "contrast" and not _TWO_SITUATIONS.search(question):
            # one situation described: the model's next reading ("why does it feel smooth on good days?")
            kind = next(k for k, _ in p.ranked_kinds if k != "contrast")
            why = "one situation, not two: " + ", ".join(f"{k} {pr:.2f}" for k, pr in p.ranked_kinds)
        elif p.kind_confidence < self.floor:
            # a safe general shape: how it feels and what is underneath, on the side the question is on,
            # or else the passage closest to the question
            kind = "why_feel" if p.stance else SAFE_KIND
            why = "unsure of the kind of ask: " + ", ".join(f"{k} {pr:.2f}" for k, pr in p.ranked_kinds)
        elif kind == "yes_no" and _asks_wh(question):
            kind = next(k for k, _ in p.ranked_kinds if k != "yes_no")
            why = "asks what, how or why, not yes or no: " + ", ".join(f"{k} {pr:.2f}" for k, pr in p.ranked_kinds)
        if (kind != "out_of_scope" and self.doctrine.out_of_scope.search(question) and not named and not everyday
                and not is_injection(question, self.doctrine)):
            # "give me a half-marathon pace plan": an off-topic subject and no sprint-system word at all
            kind, why = "out_of_scope", why or "an off-topic subject with no AQ term"
        gaps = self._gaps(the_ask(question), kind, terms)
        stance = p.stance
        if not stance and kind in ("signs", "why_feel"):
            # the model saw no side; the doctrine's stance words may ("…start breaking down?")
            lexical = self.doctrine.stance_of(question)
            stance = lexical if lexical in ("improving", "disrupted") else ""
        intent, in_scope = self._intent(question, kind, terms)
        if intent == "injection":
            kind = "pushback"
        return QuestionPlan(question, standalone, kind, intent, terms, named, stance, gaps, in_scope=in_scope,
                            confidence=p.kind_confidence, follows=follows, why=why, model_kind=p.kind)

    def _gaps(self, ask: str, kind: str, terms: tuple[str, ...]) -> tuple[str, ...]:
        """The not-covered topics the ask names. In a question about AQ terms, a topic named only by
        one of the glossary's everyday words ("my arms and legs feel out of sync") is not a gap."""
        if kind in ("about_aq", "out_of_scope", "greeting"):
            return ()
        out = []
        for g in self.doctrine.not_covered:
            found = [m.group(0) for m in g.pattern.finditer(ask)]
            # the rest of the question still names an AQ term or its everyday word: the topic's word is one of them
            rest = g.pattern.sub(" ", ask)
            in_passing = all(self.glossary.expansions(w) for w in found) and (
                named_terms(rest, self.glossary) or self.glossary.expansions(rest))
            if found and (kind == "not_covered" or not terms or not in_passing):
                out.append(g.topic)
        return tuple(out)

    def _intent(self, question: str, kind: str, terms: tuple[str, ...]) -> tuple[str, bool]:
        """What the rest of the service needs to know beyond the kind: safety first (injection and
        injury are lexical facts), then scope, then what the answer is about."""
        d = self.doctrine
        if is_injection(question, d):
            return "injection", True
        if d.mentions_injury(question):
            return "injury", False
        if kind in ("out_of_scope", "greeting"):
            return kind, False
        if d.subject_pattern.search(question) and kind in ("yes_no", "pushback", "explain", "contrast"):
            return "doctrine", True
        return {"definition": "term", "same_or_different": "term", "signs": "feel", "why_feel": "feel",
                "contrast": "feel", "work_on": "training"}.get(kind, "general"), True


def featurizer(glossary: Glossary, doctrine: Doctrine) -> Featurizer:
    """The model's lexical facts, from the glossary and the doctrine (corpus data, not code)."""

    def facts(text: str) -> list[float]:
        named = named_terms(text, glossary)
        everyday = glossary.expansions(text) if glossary else []
        improving = len(doctrine.improving.findall(text))
        disrupted = len(doctrine.disrupted.findall(text))
        stance = doctrine.stance_of(text)
        return [min(len(named), 2) / 2, min(len(everyday), 3) / 3, float(bool(doctrine.gaps_in(text))),
                float(bool(doctrine.out_of_scope.search(text))), float(doctrine.mentions_injury(text)),
                float(is_injection(text, doctrine)), float(bool(doctrine.subject_pattern.search(text))),
                min(improving, 3) / 3, min(disrupted, 3) / 3, float(stance == "improving"), float(stance == "disrupted"),
                float(bool(_NEGATION.search(text)))]

    return Featurizer(facts, 12)




def _corpus_digest(glossary: Glossary, doctrine: Doctrine) -> str:
    """What the lexical facts read from the corpus: a changed glossary or doctrine trains again."""
    import hashlib

    parts = [repr([(t.term, t.everyday) for t in glossary])]
    parts += [p.pattern for p in (doctrine.improving, doctrine.disrupted, doctrine.out_of_scope, doctrine.injury,
                                  doctrine.subject_pattern)]
    parts += [g.pattern.pattern for g in doctrine.not_covered]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:8]


class _KnownSets:
    """Which labelled-set digest (what training reads) a set's exact bytes have: a JSON file in the
    model cache, written atomically."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / "plan-sets.json"

    @staticmethod
    def stamp(dataset: Path) -> str:
        import hashlib

        from .plan_model import FEATURE_VERSION

        files = sorted(dataset.glob("*.yaml")) if dataset.is_dir() else [dataset]
        h = hashlib.sha256(FEATURE_VERSION.encode())
        for f in files:
            if f.exists():
                h.update(f.name.encode() + b"\0" + f.read_bytes())
        return h.hexdigest()[:24]

    def _read(self) -> dict:
        import json

        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, stamp: str) -> str | None:
        value = self._read().get(stamp)
        return value if isinstance(value, str) else None

    def put(self, stamp: str, digest: str) -> None:
        import json
        import os

        data = self._read()
        data[stamp] = digest
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.partial")
            partial.write_text(json.dumps(dict(list(data.items())[-50:])), encoding="utf-8")
            os.replace(partial, self.path)
        except OSError:
            pass  # a read-only cache: the set is parsed again next time


def load_planner(dataset, cache_dir, glossary: Glossary | None, doctrine: Doctrine,
                 embed: Callable[[list[str]], list], embed_id: str = "minilm",
                 confidence_floor: float = 0.3, retrain: bool = False) -> QuestionPlanner:
    """A planner whose model is trained on the labelled set at `dataset` (its tune split), or read
    from `cache_dir` where that set, the corpus's lexical facts and the embedding model were
    trained on before. Training takes a few seconds."""
    import logging
    from pathlib import Path

    from .plan_model import PlanModel, load_plan_set, set_digest, train

    glossary = glossary or Glossary([])
    # Reading 3,500 labelled questions takes about a second; the files' bytes are hashed in a few
    # milliseconds, so a serve whose set was trained on before never parses it.
    known = _KnownSets(Path(cache_dir))
    stamp = known.stamp(Path(dataset))
    examples = None
    digest = known.get(stamp)
    if digest is None or retrain:
        examples = load_plan_set(Path(dataset))
        digest = set_digest(examples)
        known.put(stamp, digest)
    key = f"{digest}-{_corpus_digest(glossary, doctrine)}-{embed_id}"
    path = Path(cache_dir) / f"plan-{key}.npz"
    model = None
    if path.exists() and not retrain:
        try:
            model = PlanModel.load(path)
        except Exception as exc:  # a damaged file: train again
            logging.getLogger(__name__).info("training the plan model again: %s", exc)
    if model is None:
        examples = examples if examples is not None else load_plan_set(Path(dataset))
        model = train(examples, featurizer(glossary, doctrine), embed, [t.term for t in glossary])
        model.save(path)
    return QuestionPlanner(model, glossary, doctrine, embed, confidence_floor)


__all__ = ["KINDS", "QuestionPlan", "QuestionPlanner", "featurizer", "load_planner", "the_ask"]
