"""The answering service: history → standalone question → retrieve → backend → guard → Answer.

Every answer, from every backend, passes the doctrine guard (assistant.guard). An LLM answer that
frames coordination as a cause is regenerated once with a corrective instruction; if it still
violates, the composer's answer is returned with a short notice. An LLM that is down or hangs is
replaced by the composer the same way. Hostile questions are answered by the composer directly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from .backends import LLMBackend, LLMUnavailable, make_composer, make_llm
from .config import Settings
from .corpus import Glossary
from .guard import StreamGuard, judge_framing, sentence_pieces
from .plan import QuestionPlan, plan_question
from .retrieval import HybridSearcher, SearchHit


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

    def as_dict(self) -> dict:
        data = asdict(self)
        data["answer"] = data.pop("text")
        return data


@dataclass
class AnswerDelta:
    """A piece of a streamed answer."""

    text: str
    buffered: bool = False   # the rest of the answer is written already (the composer's): a client may wait for it


# --- prompting -----------------------------------------------------------------------------------

SYSTEM_TEMPLATE = """You are AQ Coach, a sprint coach who explains sprinting in AQ's terms.
{doctrine}

AQ terms:
{glossary}

Rules:
- Answer only from the numbered context passages. Cite them like [1] or [2].
- If the context does not cover the question, say that AQ's articles don't cover it. Do not invent training plans.
- Answer in 2 to 5 short sentences, in plain words, using the AQ terms."""

CORRECTION = (
    "Your previous answer was rejected: {evidence}. Answer again, briefly and without repeating yourself. "
    "Keep to AQ's view: describe coordination only as how improved sprinting feels, never as a cause of speed, "
    "and explain what may be improving underneath (pushing side, swing side, contributor timing, sprint-system continuity)."
)

CONDENSE_PROMPT = (
    "Rewrite the athlete's last message as one standalone question, using the conversation for context. "
    "Reply with the question only.\n\nConversation:\n{history}\n\nLast message: {question}\n\nStandalone question:"
)


# What the plan asks of the first sentence, for an LLM backend (the composer reads the plan itself).
KIND_GUIDANCE = {
    "yes_no": "Open with a plain yes or no (or 'not necessarily'), then say why.",
    "definition": "Open with what the term means, in one sentence.",
    "how_to": "Open with what to work on, in AQ's terms.",
    "feel_good": "Describe only how improved sprinting feels, then what may be improving underneath.",
    "feel_bad": "Describe only how disrupted sprinting feels, then what may be disrupted underneath.",
    "comparison": "Say how the two things differ, one sentence each.",
    "why": "Open with the reason AQ gives.",
    "about_aq": "Say what AQ is.",
}


def plan_guidance(plan: QuestionPlan) -> str:
    lines = [KIND_GUIDANCE.get(plan.kind, "")]
    if plan.gaps:
        lines.insert(0, f"AQ's articles don't cover {', '.join(plan.gaps)}: say so in your first sentence and invent nothing.")
    for part in plan.parts:
        lines.append(f"Answer this part too: {part.standalone}")
    return "".join(f"{line}\n" for line in lines if line)


def _glossary_lines(glossary: Glossary, focus: str = "") -> str:
    """The AQ terms for the system prompt: those the question and its passages name (all when none
    is named). Small local models have little context to spare; every line costs prompt time."""
    named = {t.term for t in glossary.terms_in(focus)} | {t.term for t in glossary.expansions(focus)} if focus else set()
    terms = [t for t in glossary if t.term in named] or list(glossary)
    return "\n".join(f"- {t.term}: {t.definition}" for t in terms) or "- (no glossary loaded)"


def _context(hits: list[SearchHit]) -> str:
    return "\n\n".join(f"[{n}] ({h.section}) {h.body}" for n, h in enumerate(hits, 1))


# --- the service -------------------------------------------------------------------------------

_REPLACED_NOTICE = "The model's answer contradicted AQ's view of coordination (or was unusable), so this answer was composed directly from AQ's articles."
_FALLBACK_NOTICE = "The language model could not be reached, so this answer was composed directly from AQ's articles."


class AnsweringService:
    """Answers athletes' questions; the UI, the CLI and the evals call only this."""

    def __init__(self, settings: Settings, searcher: HybridSearcher, glossary: Glossary, llm: LLMBackend | None = None) -> None:
        self.settings = settings
        self.searcher = searcher
        self.glossary = glossary
        from .indexing import doctrine_for, related_for

        # The doctrine, its fixed queries and texts are AQ's data (corpus/doctrine.yaml), read once.
        self.doctrine = doctrine_for(settings)
        self.composer = make_composer(glossary, self.doctrine, getattr(searcher, "embeddings", None), settings,
                                      related=related_for(settings))
        self._llms: dict[str, LLMBackend | None] = {settings.backend: llm} if llm is not None else {}
        self._fixed: dict[tuple, list[SearchHit]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> "AnsweringService":
        from .indexing import glossary_for, open_searcher

        return cls(settings, open_searcher(settings), glossary_for(settings))

    def warm(self) -> None:
        """Load what the first answer would otherwise wait for: the embedding model, the index
        (BM25 and the answer units) and, when it is the backend, the local LLM."""
        self.searcher.search(self.doctrine.queries.get("doctrine") or "sprinting", 1)
        for query in filter(None, self.doctrine.queries.values()):
            self._fixed_search(query, 2)  # the doctrine's fixed queries, as answers ask them
        try:
            self.llm(self.settings.backend)
        except LLMUnavailable:
            pass  # answers fall back to the composer; the first one says so

    def llm(self, name: str) -> LLMBackend | None:
        if name not in self._llms:
            self._llms[name] = make_llm(self.settings, name)
        return self._llms[name]

    # -- public API ----------------------------------------------------------------------------
    def answer(self, question: str, history: list[dict] | None = None, backend: str | None = None) -> Answer:
        """The whole answer at once: the last item of stream()."""
        answer = None
        for item in self.stream(question, history, backend):
            answer = item
        return answer

    def stream(self, question: str, history: list[dict] | None = None, backend: str | None = None) -> Iterator[AnswerDelta | Answer]:
        """Yield the answer in pieces as it is written, then the finished Answer.

        An LLM's tokens are judged one complete sentence at a time (guard.StreamGuard) and a
        sentence is released only once it has passed; a failing sentence is never released. The
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
        llm = self.llm(backend)
        plan = self.plan(question, history, llm)
        timings = {"resolve_ms": _ms(started)}

        if not plan.in_scope:
            text = self.doctrine.text("injury" if plan.intent == "injury" else "out_of_scope")
            verdict = judge_framing(text)
            answer = Answer(text, [], backend, GuardReport(True, verdict.verdict, "passed"), timings, plan.standalone,
                            scope="out", intent=plan.intent, notices=notices, trace=[{"sentence": text, "chunk_id": ""}],
                            plan=plan.as_dict())
        else:
            t = time.perf_counter()
            hits, context = self._retrieve(plan)
            timings["retrieve_ms"] = _ms(t)
            t = time.perf_counter()
            qvec = self.searcher.query_vector(plan.standalone) if hasattr(self.searcher, "query_vector") else None
            composition = self.composer.compose(plan, hits, qvec)
            timings["compose_ms"] = _ms(t)
            if llm is not None and plan.intent != "injection":
                answer = yield from self._stream_llm(llm, history, context, composition, plan, timings, notices, hits)
                answer.timings["total_ms"] = _ms(started)
                yield answer
                return
            answer = self._composed_answer(composition, hits, plan, timings, notices)
        answer.timings["total_ms"] = _ms(started)
        for piece in sentence_pieces(answer.text):  # the composer's answer is whole at once: sentence by sentence
            yield AnswerDelta(piece, buffered=True)
        yield answer

    # -- steps ---------------------------------------------------------------------------------
    def plan(self, question: str, history: list[dict], llm: LLMBackend | None = None) -> QuestionPlan:
        """The turn's question plan, computed once; with an LLM, a follow-up is condensed by it."""
        def condense(q: str) -> str | None:
            try:
                return llm.invoke(_condense_chain(llm), {"history": _history_text(history), "question": q}).strip()
            except LLMUnavailable:
                return None  # the composer's way (previous topic + follow-up) still works

        return plan_question(question, history, self.glossary, self.doctrine, condense if llm is not None else None)

    def _retrieve(self, plan: QuestionPlan) -> tuple[list[SearchHit], list[SearchHit]]:
        """The passages for the composer and those for an LLM's context (the top k, and the extras).

        The athlete's question first; doctrine and training questions also pull in the passages
        AQ wrote for exactly that (the FAQ on cause, the speed-training section). The composer ranks
        units from composer_k chunks: more choice costs it little, while an LLM reads every line."""
        k = self.settings.k
        queries = self.doctrine.queries
        doctrine_q, training_q = queries.get("doctrine"), queries.get("training")
        if plan.intent == "injection" and doctrine_q:
            hits = self.searcher.search(doctrine_q, k)
            return hits, hits
        wide = self.searcher.search(plan.standalone, max(k, self.settings.composer_k))
        hits = wide[:k]
        extras = {"doctrine": [doctrine_q], "training": [training_q]}.get(plan.intent, [])
        if plan.kind in ("feel_good", "feel_bad"):
            extras.append(queries.get(plan.kind))  # what may be happening underneath the feeling
        if plan.wants_training and training_q not in extras:
            extras.append(training_q)  # "will improving my coordination make me faster?" is about training too
        for part in plan.parts:  # each part of a two-part question finds its own passages
            seen = {h.id for h in hits}
            hits += [h for h in self.searcher.search(part.standalone, 2) if h.id not in seen]
        for extra in filter(None, extras):
            seen = {h.id for h in hits}
            hits += [h for h in self._fixed_search(extra, 2) if h.id not in seen]
        seen = {h.id for h in hits}
        return hits + [h for h in wide[k:] if h.id not in seen], hits

    def _fixed_search(self, query: str, k: int) -> list[SearchHit]:
        """Search for one of the service's own fixed queries, remembered per index version: the
        same query embedded on every doctrine question would double its retrieval time."""
        key = (query, k, getattr(self.searcher, "version", None))
        if key[2] is None or key not in self._fixed:
            hits = self.searcher.search(query, k)
            key = (query, k, getattr(self.searcher, "version", None))
            if key[2] is not None:
                self._fixed = {key: hits, **{k_: v for k_, v in self._fixed.items() if k_[2] == key[2]}}
            return hits
        return self._fixed[key]

    def _guard_composed(self, text: str) -> tuple[str, GuardReport]:
        verdict = judge_framing(text)
        if verdict.verdict == "pass":
            return text, GuardReport(True, "pass", "passed")
        # Faithful by construction, but never trust it blindly: drop any sentence the judge flags.
        bad = {j.sentence for j in verdict.sentences if j.label == "causal"} | {j.sentence for j in getattr(verdict, "_undecided", ())}
        kept = "\n\n".join(p for p in text.split("\n\n") if not any(b in p for b in bad))
        final = judge_framing(kept)
        return kept, GuardReport(True, final.verdict, "filtered", evidence=verdict.evidence)

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

    def _guarded_pieces(self, llm, chain, inputs, gate: StreamGuard, timings: dict, t: float) -> Iterator[str]:
        """The model's sentences as they pass the guard; generation stops at the first that fails."""
        pieces = llm.stream(chain, inputs)
        try:
            for piece in pieces:
                if piece and "ttft_ms" not in timings:
                    timings["ttft_ms"] = _ms(t)  # the model's first token
                for sentence in gate.feed(piece):
                    timings.setdefault("first_sentence_ms", _ms(t))  # the first sentence released
                    yield sentence
                if gate.failed:
                    return  # nothing after a failed sentence is shown
            for sentence in gate.close():
                timings.setdefault("first_sentence_ms", _ms(t))
                yield sentence
        finally:
            close = getattr(pieces, "close", None)
            if close:
                close()  # stops the generation (and frees llama.cpp's one context)

    def _composed_answer(self, composition, hits, plan: QuestionPlan, timings, notices, backend: str = "composer") -> Answer:
        text, guard = self._guard_composed(composition.text)
        used = [cid for _, cid in composition.trace if cid]
        return Answer(text, self._sources(hits, used), backend, guard, timings, plan.standalone, intent=plan.intent,
                      notices=notices, trace=[{"sentence": s, "chunk_id": c} for s, c in composition.trace], plan=plan.as_dict())

    def _stream_llm(self, llm, history, hits, composition, plan: QuestionPlan, timings, notices, composed_hits):
        """Stream the LLM's answer through the sentence guard; on a failure, regenerate once with a
        correction, then fall back to the composer. Yields deltas and returns the final Answer."""
        question = plan.standalone
        inputs = {"context": _context(hits), "question": question, "history": _lc_history(history), "correction": "",
                  "guidance": plan_guidance(plan)}
        chain = _answer_chain(llm, self.glossary, self.doctrine.statement, focus=f"{question}\n{inputs['context']}")
        evidence: list[str] = []
        attempts = 1
        t = time.perf_counter()

        def passed(text: str, action: str) -> Answer:
            timings["generate_ms"] = _ms(t)
            return Answer(text, self._sources(hits, [h.id for h in hits]), llm.name,
                          GuardReport(True, "pass", action, attempts, evidence), timings, question,
                          intent=plan.intent, notices=notices, plan=plan.as_dict())

        shown = False  # has any sentence reached the athlete yet?
        try:
            for attempt in range(2):
                attempts = attempt + 1
                gate = StreamGuard(self._support_check(hits))
                # A retry streams too when nothing was shown; otherwise the final Answer replaces the text.
                for sentence in self._guarded_pieces(llm, chain, inputs, gate, timings, t):
                    if not shown or attempt == 0:
                        yield AnswerDelta(sentence)
                if attempt == 0:
                    shown = bool(gate.released.strip())
                text = gate.released.strip()
                if not gate.failed and text and not _degenerate(text) and not gate.mostly_unsupported:
                    evidence.extend(gate.evidence)  # any sentence left out as unsupported
                    return passed(text, "passed" if attempt == 0 else "regenerated")
                problem = gate.evidence or (["the answer repeated itself"] if text else ["empty or unclear answer"])
                evidence.extend(problem)
                inputs["correction"] = CORRECTION.format(evidence="; ".join(problem)[:300])
            action, notice = "replaced", _REPLACED_NOTICE
        except LLMUnavailable as exc:
            action, notice = "fallback", _FALLBACK_NOTICE
            evidence.append(str(exc))
        timings["generate_ms"] = _ms(t)
        answer = self._composed_answer(composition, composed_hits, plan, timings, [*notices, notice],
                                       backend=f"composer (fallback from {llm.name})")
        answer.guard.action, answer.guard.attempts, answer.guard.evidence, answer.guard.notice = action, attempts, evidence, notice
        return answer

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
            out.append({"role": m["role"], "content": m["content"][:4000]})
    return out[-turns:] if turns else []


def _history_text(history: list[dict]) -> str:
    return "\n".join(f"{m['role']}: {m['content'][:500]}" for m in history)


def _lc_history(history: list[dict]):
    from langchain_core.messages import AIMessage, HumanMessage

    return [HumanMessage(m["content"]) if m["role"] == "user" else AIMessage(m["content"]) for m in history]


def _answer_chain(llm: LLMBackend, glossary: Glossary, doctrine: str, focus: str = ""):
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    system = SYSTEM_TEMPLATE.format(doctrine=doctrine, glossary=_glossary_lines(glossary, focus))
    prompt = ChatPromptTemplate.from_messages([
        ("system", system.replace("{", "{{").replace("}", "}}")),
        MessagesPlaceholder("history"),
        ("human", "Context:\n{context}\n\nQuestion: {question}\n{guidance}{correction}"),
    ])
    return prompt | llm.chat_model | StrOutputParser()


def _condense_chain(llm: LLMBackend):
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("human", CONDENSE_PROMPT)]) | llm.chat_model | StrOutputParser()
