"""The answering service: history → question plan → retrieve → answerer → guard → Answer.

Every answerer (assistant.backends: the composer, llama.cpp, an OpenAI-compatible endpoint) is
called the same way and its pieces pass the same sentence guard (assistant.guard). A model's answer
that fails the guard is regenerated once with the reasons; if it fails again, the composer's answer
is returned with a short notice. A model that is down or hangs is replaced by the composer the same
way. Hostile questions are answered by the composer directly. The retrieve step is
assistant.passages; the composer's remembered answers are assistant.answer_cache.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace

from .answer_cache import SAME_ANSWER_WAIT_S, AnswerCache
from .backends import Answerer, AnswerRequest, LLMUnavailable, Piece, make_answerer, make_composer
from .backends.draft import GAP_ID
from .config import Settings
from .corpus import Glossary
from .embeddings import default_cache_dir
from .guard import FramingJudge, StreamGuard
from .passages import PassageFinder, support
from .plan import QuestionPlan, QuestionPlanner, load_planner
from .retrieval import HybridSearcher, SearchHit
from .text import sentence_pieces


class EmptyQuestion(ValueError):
    """The question was empty or blank."""


@dataclass
class Source:
    id: str
    title: str
    section: str
    excerpt: str
    score: float
    question: str = ""   # the FAQ question, for FAQ chunks


@dataclass
class GuardReport:
    checked: bool
    verdict: str                 # pass | fail | uncertain: of the answer that was returned
    action: str                  # passed | regenerated | replaced | filtered | fallback
    attempts: int = 1            # backend generations tried
    evidence: list[str] = field(default_factory=list)   # what the guard caught, if anything
    notice: str = ""             # shown to the athlete when something was replaced


@dataclass
class Answer:
    text: str
    sources: list[Source]
    backend: str
    guard: GuardReport
    timings: dict[str, float]
    question: str                # the standalone question used for retrieval
    scope: str = "in"            # in | out
    intent: str = "general"
    notices: list[str] = field(default_factory=list)
    trace: list[dict] = field(default_factory=list)   # composer: each sentence with its chunk id
    plan: dict = field(default_factory=dict)          # the question plan (assistant.plan) the answer followed
    support: float | None = None     # the best cosine of the question to the passages found (passages.support)
    query_vector: list[float] | None = field(default=None, repr=False)   # the standalone question's vector

    @property
    def gap(self) -> bool:
        """An honest gap: the answer says the articles don't cover (part of) the question."""
        return any(t.get("chunk_id") == GAP_ID for t in self.trace) or bool(self.plan.get("gaps"))

    def insight_meta(self) -> dict:
        """What `aq-coach insights` reads of this answer, stored with it (messages.answer_meta)."""
        return {"standalone": self.question, "gap": self.gap, "guard": self.guard.action, "support": self.support,
                "scope": self.scope, "intent": self.intent, "kind": self.plan.get("kind", ""),
                "terms": list(self.plan.get("terms") or []), "gaps": list(self.plan.get("gaps") or [])}

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("query_vector")   # 384 floats: stored with the answer, not printed
        data["answer"] = data.pop("text")
        return data


@dataclass(frozen=True)
class AnswerDelta:
    """A piece of a streamed answer."""

    text: str
    buffered: bool = False   # the rest of the answer is written already (the composer's): a client may wait for it


def with_text_so_far(stream: Iterable) -> Iterator[tuple[str, AnswerDelta | Answer]]:
    """Each item of AnsweringService.stream() beside the answer text streamed so far (its deltas
    joined): what the UI, the API, stored sessions and the terminal each show as it grows."""
    streamed = ""
    for item in stream:
        if isinstance(item, AnswerDelta):
            streamed += item.text
        yield streamed, item


# --- the service -------------------------------------------------------------------------------

_REPLACED_NOTICE = ("The model's answer contradicted AQ's view of coordination (or was unusable), so this answer was composed "
                    "directly from AQ's articles.")
_FALLBACK_NOTICE = "The language model could not be reached, so this answer was composed directly from AQ's articles."


class AnsweringService:
    """Answers athletes' questions; the UI, the CLI and the evals call only this."""

    def __init__(self, settings: Settings, searcher: HybridSearcher, glossary: Glossary, answerer: Answerer | None = None) -> None:
        self.settings = settings
        self.searcher = searcher
        self.glossary = glossary
        from .indexing import doctrine_for, related_for

        # The corpus's doctrine (its fixed queries and texts) and its framing judge, built once and passed down.
        self.doctrine = doctrine_for(settings)
        self.framing = FramingJudge(self.doctrine, glossary)
        self.composer = make_composer(glossary, self.doctrine, self.framing, getattr(searcher, "embeddings", None), settings,
                                      related=related_for(settings))
        self._answerers: dict[str, Answerer] = {settings.backend: answerer} if answerer is not None else {}
        self.passages = PassageFinder(settings, self.doctrine)
        self._answers = AnswerCache(settings.answer_cache_size)
        self._planner: QuestionPlanner | None = None
        self._planner_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> AnsweringService:
        from .indexing import glossary_for, open_searcher

        return cls(settings, open_searcher(settings), glossary_for(settings))

    def warm(self) -> None:
        """Load what the first answer would otherwise wait for: the embedding model, the index
        (BM25 and the answer units) and, when it is the backend, the local LLM."""
        self.searcher.search(self.doctrine.queries.get("doctrine") or "sprinting", 1)
        self.planner  # noqa: B018  (trains the plan model the first time, reads it afterwards)
        for query in filter(None, self.doctrine.queries.values()):
            self.passages.fixed(self.searcher, query, 2)  # the doctrine's fixed queries, as answers ask them
        try:
            self.answerer(self.settings.backend)
        except LLMUnavailable:
            pass  # answers fall back to the composer; the first one says so

    def answerer(self, name: str) -> Answerer:
        """The answerer called `name` (assistant.backends.BACKENDS), made once."""
        if name not in self._answerers:
            self._answerers[name] = make_answerer(self.settings, name, self.composer)
        return self._answerers[name]

    # -- public API ----------------------------------------------------------------------------
    def answer(self, question: str, history: list[dict] | None = None, backend: str | None = None) -> Answer:
        """The whole answer at once: the last item of stream()."""
        answer = None
        for item in self.stream(question, history, backend):
            answer = item
        return answer

    def stream(self, question: str, history: list[dict] | None = None, backend: str | None = None) -> Iterator[AnswerDelta | Answer]:
        """Yield the answer in pieces as it is written, then the finished Answer.

        Every answerer's pieces are judged one complete sentence at a time (guard.StreamGuard) and
        a sentence is released only once it has passed; a failing sentence is never released. The
        final Answer may then differ from what was streamed (regenerated, or the composer's): its
        guard report says so, and the UI and CLI show the final text instead.
        """
        started = time.perf_counter()
        backend = backend or self.settings.backend
        notices: list[str] = []
        question = _clean_question(question)
        if len(question) > self.settings.max_question_chars:
            question = question[: self.settings.max_question_chars].rsplit(" ", 1)[0]
            notices.append(f"Your question was very long, so only its first {self.settings.max_question_chars} characters were used.")
        history = _clean_history(history, self.settings.history_turns)
        answerer = self.answerer(backend)
        key = self._cache_key(question, history, answerer, notices)
        cached = self._answers.get(key) if key else None
        composing = False
        if key and cached is None:
            # Athletes asking the same thing at once (the page's examples) share one composition.
            waiting = self._answers.claim(key)
            composing = waiting is None
            if waiting is not None and waiting.wait(SAME_ANSWER_WAIT_S):
                cached = self._answers.get(key)  # None when that composition was not remembered: compose it here
        if cached is not None:
            deltas, answer = cached
            yield from deltas
            yield replace(copy.deepcopy(answer), timings={"total_ms": _ms(started), "cached": 1.0})
            return
        fresh = self._fresh(question, history, backend, answerer, notices, started)
        if key is None:
            yield from fresh  # closing this stream closes the generation (llama.cpp's one context) at once
            return
        try:
            yield from self._remembered(key, fresh)
        finally:
            if composing:
                self._answers.release(key)

    def _remembered(self, key: tuple, fresh: Iterator[AnswerDelta | Answer]) -> Iterator[AnswerDelta | Answer]:
        """fresh, passed through; its deltas and Answer are remembered under key."""
        deltas = []
        try:
            for item in fresh:
                if isinstance(item, AnswerDelta):
                    deltas.append(item)
                elif getattr(self.searcher, "version", None) == key[0]:  # answered from the index the key names
                    self._answers.put(key, (tuple(deltas), copy.deepcopy(item)))
                yield item
        finally:
            fresh.close()

    def _cache_key(self, question: str, history: list[dict], answerer: Answerer, notices: list[str]) -> tuple | None:
        """What a remembered answer is filed under; None when this answer is not to be remembered
        (a model's, which may differ each time; or no index version to tie it to)."""
        if answerer is not self.composer or notices or not self.settings.answer_cache_size:
            return None
        if getattr(self.searcher, "version", None) is None:
            return None  # a searcher without versions (the evals' recording one): nothing to tie an answer to
        try:  # the status, read afresh (at most 1 s old): an import changes its version
            version = self.searcher.current_status().version
        except Exception:  # an unreadable index is the answer's own business, not the cache's
            return None
        if version is None:
            return None
        return (version, question, tuple((m.get("role"), m.get("content")) for m in history))

    def _fresh(self, question: str, history: list[dict], backend: str, answerer: Answerer, notices: list[str],
               started: float) -> Iterator[AnswerDelta | Answer]:
        """stream()'s answer, worked out afresh."""
        plan = self.plan(question, history, answerer)
        timings = {"resolve_ms": _ms(started)}

        # the standalone question's vector (retrieval's, remembered by the searcher) is kept with the answer for insights
        vector = (lambda: self.searcher.query_vector(plan.standalone)) if hasattr(self.searcher, "query_vector") else (lambda: None)
        if not plan.in_scope:
            answer = self._out_of_scope(plan, backend, timings, notices)
            qvec = vector()
            for piece in sentence_pieces(answer.text):
                yield AnswerDelta(piece, buffered=True)
        else:
            t = time.perf_counter()
            passages, more = self.passages.for_plan(self.searcher, plan)
            timings["retrieve_ms"] = _ms(t)
            qvec = vector()
            request = AnswerRequest(plan, passages, self.glossary, self.doctrine, history, more, qvec)
            if plan.intent == "injection":
                answerer = self.composer  # a hostile question never reaches a model
            answer = yield from self._answer_with(answerer, request, timings, notices)
            answer.support = support(passages + more, qvec)
        answer.query_vector = None if qvec is None else [float(x) for x in qvec]
        answer.timings["total_ms"] = _ms(started)
        yield answer

    # -- steps ---------------------------------------------------------------------------------
    def plan(self, question: str, history: list[dict], answerer: Answerer | None = None) -> QuestionPlan:
        """The turn's question plan, computed once; an answerer that can condenses a follow-up."""
        condense = (lambda q: answerer.condense(history, q)) if answerer is not None else None
        return self.planner.plan(question, history, condense)

    @property
    def planner(self) -> QuestionPlanner:
        """The question planner, trained from the labelled set the first time (cached by its digest)."""
        if self._planner is None:
            with self._planner_lock:
                if self._planner is None:
                    self._planner = load_planner(
                        self.settings.plan_dataset, self.settings.model_cache_dir or default_cache_dir(), self.glossary,
                        self.doctrine, self._embed_texts, _embedding_id(self.settings), self.settings.plan_confidence_floor)
        return self._planner

    def _embed_texts(self, texts: list[str]) -> list:
        """Question vectors for the planner: the searcher's (remembered, shared with retrieval); a
        long list (the labelled set, when the plan model is trained) in batches."""
        if hasattr(self.searcher, "query_vector") and len(texts) <= 4:
            return [self.searcher.query_vector(t) for t in texts]
        return self.searcher.embeddings.embed_documents(list(texts))

    def _out_of_scope(self, plan: QuestionPlan, backend: str, timings: dict, notices: list[str]) -> Answer:
        text = self.doctrine.text(plan.intent if plan.intent in ("injury", "greeting") else "out_of_scope")
        return Answer(text, [], backend, GuardReport(True, self.framing.judge_framing(text).verdict, "passed"), timings, plan.standalone,
                      scope="out", intent=plan.intent, notices=notices, trace=[{"sentence": text, "chunk_id": ""}],
                      plan=plan.as_dict())

    def _answer_with(self, answerer: Answerer, request: AnswerRequest, timings: dict, notices: list[str]):
        """Stream `answerer`'s answer through the sentence guard; yields deltas, returns the Answer.

        A model's answer that fails is regenerated once with the reasons (request.rejected), then
        replaced by the composer's. A retry, or the composer's answer, streams too when nothing was
        shown yet; otherwise the final Answer replaces what was shown."""
        t = time.perf_counter()
        evidence: list[str] = []
        shown = False  # has any sentence reached the athlete yet?
        try:
            for attempt in (1, 2):
                gate = StreamGuard(self.framing, None if answerer.faithful else self._support_check(request.passages),
                                   drop_failing=answerer.faithful)
                trace: dict[int, list[str]] = {}
                for sentence in self._guarded_pieces(answerer, request, gate, trace, timings, t):
                    if not shown or attempt == 1:
                        yield AnswerDelta(sentence, buffered=not answerer.streams)
                shown = shown or bool(gate.released.strip())
                text = gate.released.strip()
                if answerer.faithful or (not gate.failed and text and not _degenerate(text) and not gate.mostly_unsupported):
                    evidence.extend(gate.evidence)  # sentences left out: unsupported, or flagged in a quoted answer
                    timings["generate_ms"] = _ms(t)
                    return self._finished(answerer, request, gate, trace, timings, notices, attempt, evidence)
                problem = gate.evidence or (["the answer repeated itself"] if text else ["empty or unclear answer"])
                evidence.extend(problem)
                request = replace(request, rejected=problem)
            action, notice = "replaced", _REPLACED_NOTICE
        except LLMUnavailable as exc:
            action, notice = "fallback", _FALLBACK_NOTICE
            evidence.append(str(exc))
        deltas = self._answer_with(self.composer, replace(request, rejected=[]), timings, [*notices, notice])
        answer = _drain(deltas) if shown else (yield from deltas)
        timings["generate_ms"] = _ms(t)
        answer.backend = f"composer (fallback from {answerer.name})"
        answer.guard.action, answer.guard.attempts, answer.guard.notice = action, attempt, notice
        answer.guard.evidence = evidence + answer.guard.evidence
        return answer

    def _finished(self, answerer: Answerer, request: AnswerRequest, gate: StreamGuard, trace: dict, timings: dict,
                  notices: list[str], attempt: int, evidence: list[str]) -> Answer:
        plan = request.plan
        if answerer.faithful:  # quoted: the sources are the chunks it quoted; a flagged sentence was left out
            action = "filtered" if gate.left_out else "passed"
            verdict = self.framing.judge_framing(gate.released).verdict if gate.left_out else "pass"
            given = request.passages + request.more_passages
        else:
            action, verdict, given = ("passed" if attempt == 1 else "regenerated"), "pass", request.passages
        used = [chunk_id for _, chunk_id in trace.values() if chunk_id]
        return Answer(gate.released.strip(), self._sources(given, used), answerer.name,
                      GuardReport(True, verdict, action, attempt, evidence), timings, plan.standalone, intent=plan.intent,
                      notices=notices, trace=[{"sentence": s.strip(), "chunk_id": c} for s, c in trace.values()],
                      plan=plan.as_dict())

    def _support_check(self, hits: list[SearchHit]):
        """sentence -> supported? by the passages the model was given, or the glossary (assistant.grounding)."""
        embeddings = getattr(self.searcher, "embeddings", None)
        if embeddings is None:
            return None
        if getattr(self, "_grounding", None) is None:
            from .grounding import GroundingCheck

            s = self.settings
            self._grounding = GroundingCheck(embeddings, self.glossary, s.grounding_cosine, s.grounding_overlap,
                                             s.grounding_cosine_with_overlap, self.doctrine.generic_words,
                                             extra=(self.doctrine.about_aq,))
        evidence = self._grounding.evidence([h.body for h in hits])
        return lambda sentence: self._grounding.supported(sentence, evidence)[0]

    def _guarded_pieces(self, answerer: Answerer, request: AnswerRequest, gate: StreamGuard, trace: dict,
                        timings: dict, t: float) -> Iterator[str]:
        """The answer's sentences as they pass the guard; a model's generation stops at the first
        that fails. `trace` gathers, per Piece, the text released from it and its chunk id."""
        pieces = answerer.stream(request)
        n, piece = 0, ""
        try:
            for n, piece in enumerate(pieces):
                if piece and "ttft_ms" not in timings:
                    timings["ttft_ms"] = _ms(t)  # the first token (a composer: its whole answer)
                yield from _released(gate.feed(piece), piece, n, trace, timings, t)
                if gate.failed:
                    return  # nothing after a failed sentence is shown
            yield from _released(gate.close(), piece, n, trace, timings, t)
        finally:
            close = getattr(pieces, "close", None)
            if close:
                close()  # stops the generation (and frees llama.cpp's one context)

    def _sources(self, hits: list[SearchHit], used_ids: list[str]) -> list[Source]:
        by_id = {h.id: h for h in hits}
        order = list(dict.fromkeys(i for i in used_ids if i in by_id)) or [h.id for h in hits]
        return [Source(h.id, h.title, h.section, h.excerpt, h.score, h.question) for h in (by_id[i] for i in order)]


# --- helpers -----------------------------------------------------------------------------------

def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


def _degenerate(text: str) -> bool:
    """Small models loop ("…🔥 Because when … 🔥 Because when …"): such an answer helps nobody."""
    lines = [ln.strip() for ln in text.splitlines() if len(ln.strip()) > 20]
    return len(lines) >= 4 and len(set(lines)) / len(lines) < 0.6


def _clean_question(question: str) -> str:
    if question is None:
        raise EmptyQuestion("the question is empty; ask something about sprinting")
    text = "".join(ch for ch in str(question) if ch in "\n\t" or ch.isprintable())
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise EmptyQuestion("the question is empty; ask something about sprinting")
    return text


def _clean_history(history, turns: int) -> list[dict]:
    """Keep well-formed {"role", "content"} messages from the last `turns` messages."""
    out = []
    for m in history or []:
        if isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str) and m["content"].strip():
            # unprintable characters (lone surrogates) out, as from a question: the planner embeds this text too
            content = "".join(ch for ch in m["content"][:4000] if ch in "\n\t" or ch.isprintable())
            if content.strip():
                out.append({"role": m["role"], "content": content})
    return out[-turns:] if turns else []


def _released(sentences: list[str], piece: str, n: int, trace: dict, timings: dict, t: float) -> Iterator[str]:
    for sentence in sentences:
        timings.setdefault("first_sentence_ms", _ms(t))  # the first sentence released
        if isinstance(piece, Piece):
            trace.setdefault(n, ["", piece.chunk_id])[0] += sentence
        yield sentence


def _drain(deltas):
    """Run a delta generator without showing its deltas; return its Answer."""
    while True:
        try:
            next(deltas)
        except StopIteration as stop:
            return stop.value


def _embedding_id(settings: Settings) -> str:
    """Which embedding model the planner's vectors come from: its weights are only valid for that one."""
    if settings.embedding_backend == "openai":
        return "openai-" + "".join(c for c in settings.openai_embedding_model if c.isalnum())[:40]
    return "minilm"
