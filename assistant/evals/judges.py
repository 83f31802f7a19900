"""The eval judges. Each returns a three-state verdict (pass / fail / uncertain) with evidence.

`uncertain` means the judge could not decide; it never counts as a pass anywhere in the evals.

Deterministic and offline: framing (the doctrine guard), grounding, scope, forbidden; the terms
and retrieval judges have modules of their own (evals.terms_judge, evals.retrieval_judge). Optional:
an LLM judge through an OpenAI-compatible endpoint, off unless configured (`AQ_EVAL_LLM_JUDGE=1`),
JSON output at temperature 0, cached on disk by model and prompt hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..embeddings import cosine
from ..guard import FramingJudge
from ..retrieval import tokenize
from ..text import CITATION_MARK, split_sentences
from .datasets import Source

PASS, FAIL, UNCERTAIN = "pass", "fail", "uncertain"
VERDICTS = (PASS, FAIL, UNCERTAIN)


@dataclass
class CheckResult:
    """One judge's verdict on one answer."""

    name: str
    verdict: str                       # pass | fail | uncertain
    score: float | None = None         # 0..1 where the judge has one
    evidence: list[dict] = field(default_factory=list)
    detail: dict = field(default_factory=dict)   # judge-specific figures (recall, rank, ...)

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    def as_dict(self) -> dict:
        data = {"name": self.name, "verdict": self.verdict, "score": None if self.score is None else round(self.score, 4),
                "evidence": self.evidence}
        if self.detail:
            data["detail"] = self.detail
        return data


def combine(verdicts) -> str:
    """A case's overall verdict: fail if any check fails, else uncertain if any is uncertain, else pass."""
    verdicts = list(verdicts)
    if FAIL in verdicts:
        return FAIL
    if UNCERTAIN in verdicts or not verdicts:
        return UNCERTAIN
    return PASS


DOCTRINE_TRACE = "doctrine:"     # trace ids of the composer's fixed texts from corpus/doctrine.yaml


def _chunk_for(sentence: str, trace: list[dict] | None) -> str:
    """The chunk id the answerer recorded for this sentence (composer trace), if any."""
    if not trace:
        return ""
    plain = _plain(sentence)
    for step in trace:
        s = _plain(str(step.get("sentence", "")))
        if s and (plain in s or s in plain) and step.get("chunk_id"):
            return str(step["chunk_id"])
    return ""


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[*_`#>]+", "", text)).strip().lower()


# --- framing ------------------------------------------------------------------------------------

def judge_framing_check(answer: str, framing: FramingJudge, trace: list[dict] | None = None) -> CheckResult:
    """Coordination framed as felt, never as a cause of speed: the corpus's framing judge (assistant.guard),
    sentence by sentence."""
    verdict = framing.judge_framing(answer)
    evidence = []
    for s in verdict.sentences:
        if s.label == "causal":
            evidence.append({"sentence": s.sentence, "span": s.evidence, "rule": s.rule, "label": "causal",
                             "chunk_id": _chunk_for(s.sentence, trace)})
    undecided = getattr(verdict, "_undecided", ()) or ()
    for s in undecided:
        evidence.append({"sentence": s.sentence, "span": s.evidence, "rule": s.rule or "undecided", "label": "uncertain",
                         "chunk_id": _chunk_for(s.sentence, trace)})
    if verdict.verdict == UNCERTAIN and not undecided:
        evidence.extend({"sentence": "", "span": line, "rule": "undecided", "label": "uncertain", "chunk_id": ""}
                        for line in verdict.evidence)
    n = len(verdict.sentences)
    causal = len(verdict.violations)
    score = 1.0 - causal / n if n else 1.0
    labels = {"causal": causal, "felt": sum(s.label == "felt" for s in verdict.sentences),
              "neutral": sum(s.label == "neutral" for s in verdict.sentences)}
    return CheckResult("framing", verdict.verdict, score, evidence, {"sentences": n, **labels})


# --- grounding ----------------------------------------------------------------------------------

GROUNDING_SUPPORT = 0.6        # a sentence is supported when its best chunk scores at least this
GROUNDING_ANSWER = 0.8         # an answer passes when at least this share of its sentences is supported
GROUNDING_MIN_TOKENS = 5       # sentences with fewer content words are connective / meta: left out
GROUNDING_COSINE = 0.8         # with embeddings: a paraphrase this close to one chunk sentence also counts
_META_TOKENS = frozenset({"aq"})


def content_tokens(text: str) -> list[str]:
    """Stemmed content words (assistant.retrieval.tokenize) without attribution words like 'AQ'."""
    return [t for t in tokenize(_plain(text)) if t not in _META_TOKENS]


def _bigrams(tokens: list[str]) -> set[tuple[str, str]]:
    return set(zip(tokens, tokens[1:]))


@dataclass
class _ChunkIndex:
    id: str
    tokens: set
    bigrams: set
    sentences: list[str]


def _index_sources(sources: list[Source]) -> list[_ChunkIndex]:
    out = []
    for n, src in enumerate(sources):
        text = src.content
        if src.question and src.question not in text:
            text = f"{src.question}\n{text}"
        toks = content_tokens(text)
        sentences = [s for s in split_sentences(text) if len(content_tokens(s)) >= 3]
        out.append(_ChunkIndex(src.id or f"source-{n + 1}", set(toks), _bigrams(toks), sentences))
    return out


def lexical_support(sentence_tokens: list[str], chunk: _ChunkIndex) -> float:
    """Recall of the sentence's content words (and word pairs) in the chunk: 0..1."""
    if not sentence_tokens:
        return 0.0
    uni = len(set(sentence_tokens) & chunk.tokens) / len(set(sentence_tokens))
    pairs = _bigrams(sentence_tokens)
    bi = len(pairs & chunk.bigrams) / len(pairs) if pairs else uni
    return 0.5 * uni + 0.5 * bi


_cosine = cosine  # one implementation, in assistant.embeddings


def score_sentence(sentence: str, sources: list[Source], embeddings=None, _index: list[_ChunkIndex] | None = None) -> dict:
    """The sentence's best chunk and its support score; `considered` False for connective text."""
    tokens = content_tokens(sentence)
    result = {"sentence": sentence, "considered": True, "supported": False, "score": 0.0, "chunk_id": "", "cosine": None}
    if len(set(tokens)) < GROUNDING_MIN_TOKENS or sentence.rstrip().endswith(":"):
        result["considered"] = False
        return result
    index = _index if _index is not None else _index_sources(sources)
    best, best_id = 0.0, ""
    for chunk in index:
        s = lexical_support(tokens, chunk)
        if s > best:
            best, best_id = s, chunk.id
    result["score"], result["chunk_id"] = round(best, 4), best_id
    result["supported"] = best >= GROUNDING_SUPPORT
    if not result["supported"] and embeddings is not None and index:
        # A paraphrase: close in meaning to one sentence of a chunk, sharing some of its words.
        pool = [(c.id, s) for c in index for s in c.sentences]
        if pool:
            vectors = embeddings.embed_documents([sentence] + [s for _, s in pool])
            sims = [_cosine(vectors[0], v) for v in vectors[1:]]
            i = max(range(len(sims)), key=sims.__getitem__)
            result["cosine"] = round(sims[i], 4)
            chunk_id = pool[i][0]
            lex = next(lexical_support(tokens, c) for c in index if c.id == chunk_id)
            if sims[i] >= GROUNDING_COSINE and lex >= GROUNDING_SUPPORT / 2:
                result["supported"], result["chunk_id"] = True, chunk_id
    return result


def judge_grounding(answer: str, sources: list[Source] | None, embeddings=None, trace: list[dict] | None = None) -> CheckResult:
    """Each answer sentence against its best retrieved chunk; score = share of supported sentences."""
    if not sources:
        return CheckResult("grounding", UNCERTAIN, None, [{"detail": "no sources to check the answer against"}])
    index = _index_sources(sources)
    # Sentences the answerer traced to AQ's own fixed texts (doctrine.yaml: about AQ, "the articles
    # don't cover …") are the maintainers' words, not claims drawn from a passage.
    sentences = [s for s in split_sentences(answer) if not _chunk_for(s, trace).startswith(DOCTRINE_TRACE)]
    rows = [score_sentence(s, sources, embeddings, index) for s in sentences]
    considered = [r for r in rows if r["considered"]]
    if not considered:
        return CheckResult("grounding", UNCERTAIN, None,
                           [{"detail": "no sentence with enough content words to check"}], {"sentences": len(rows)})
    supported = [r for r in considered if r["supported"]]
    score = len(supported) / len(considered)
    evidence = [{"sentence": r["sentence"], "chunk_id": r["chunk_id"], "support": r["score"],
                 **({"cosine": r["cosine"]} if r["cosine"] is not None else {}),
                 "traced_chunk_id": _chunk_for(r["sentence"], trace)}
                for r in considered if not r["supported"]]
    verdict = PASS if score >= GROUNDING_ANSWER else FAIL
    return CheckResult("grounding", verdict, score, evidence,
                       {"sentences": len(rows), "considered": len(considered), "supported": len(supported)})


# --- scope --------------------------------------------------------------------------------------

_REFUSAL = [
    ("outside", re.compile(r"\b(outside|beyond|out of)\b[^.?!]{0,40}\b(what i|scope|topics?|my (area|remit|lane)|can help|i can)\b", re.I)),
    ("cannot-help", re.compile(r"\b(i|we)\s*(can ?not|can'?t|can’t|won'?t|won’t|am not able to|'m not able to|’m not able to|am unable to|'m unable to|’m unable to|do not|don'?t|don’t)\s+(really )?"
                               r"(help|assist|advise|answer|give|offer|guess|diagnose|comment|do that|write|recommend|provide|tell you)\b", re.I)),
    ("not-covered", re.compile(r"\b(articles?|aq|i)\b[^.?!]{0,25}\b(do not|don'?t|don’t|does not|doesn'?t|doesn’t|never)\s+(cover|address|discuss|deal with|go into)\b", re.I)),
    ("not-covered", re.compile(r"\b(is|are)(n'?t|n’t| not) (something|covered|a topic|part of)\b[^.?!]{0,40}\b(aq|articles?|i (do|cover|can))", re.I)),
    ("not-covered", re.compile(r"\b(is|are)(n'?t|n’t| not) covered\b", re.I)),
    ("refer-professional", re.compile(r"\b(please )?(see|consult|talk to|ask|get it checked by|speak (to|with)|visit)\b[^.?!]{0,30}\b(professional|physio\w*|doctor|dietitian|nutritionist|physician|medical|clinician|therapist)\b", re.I)),
    ("only-covers", re.compile(r"\bi (only|just) (cover|explain|talk about|answer|help with|do)\b", re.I)),
    ("nothing-found", re.compile(r"\b(couldn'?t|could not|couldn’t|can'?t|cannot) find anything\b", re.I)),
    ("not-a-topic", re.compile(r"\bnot a (sprinting|sprint|running) question\b", re.I)),
]
_REFUSAL_WINDOW = 2   # refusals open with the decline; a disclaimer at the end of an answer is not one


def detect_refusal(answer: str) -> tuple[str, list[dict]]:
    """'refused' (a decline in the opening sentences), 'late' (only later), or 'answered'; with the cues."""
    sentences = split_sentences(answer) or [answer]
    cues = []
    for n, s in enumerate(sentences):
        for name, rx in _REFUSAL:
            m = rx.search(s)
            if m:
                cues.append({"sentence": s, "span": m.group(0), "rule": name, "position": n + 1})
                break
    if any(c["position"] <= _REFUSAL_WINDOW for c in cues):
        return "refused", cues
    return ("late" if cues else "answered"), cues


def judge_scope(answer: str, expect_refusal: bool, service_scope: str | None = None) -> CheckResult:
    """`scope: out` cases must be refused; in-scope cases must not be."""
    state, cues = detect_refusal(answer)
    evidence = list(cues)
    if service_scope:
        evidence.append({"service_scope": service_scope})
    if expect_refusal:
        if state == "refused":
            return CheckResult("scope", PASS, 1.0, evidence, {"expected": "refusal", "found": state})
        if state == "late":
            return CheckResult("scope", UNCERTAIN, None, evidence + [{"detail": "a decline appears only after the answer started"}],
                               {"expected": "refusal", "found": state})
        return CheckResult("scope", FAIL, 0.0, evidence + [{"detail": "out-of-scope request answered, no refusal found",
                                                            "sentence": (split_sentences(answer) or [answer])[0][:300]}],
                           {"expected": "refusal", "found": state})
    if state == "refused":
        # "the articles don't cover plyometrics; here is what they do say to work on. … [1]": a topic
        # named in passing is declined, and the ask is still answered from the passages
        last = max(c["position"] for c in cues if c["position"] <= _REFUSAL_WINDOW)
        if any(CITATION_MARK.search(s) for s in (split_sentences(answer) or [])[last:]):
            return CheckResult("scope", PASS, 1.0, evidence, {"expected": "answer", "found": "answered after a gap"})
        return CheckResult("scope", FAIL, 0.0, evidence + [{"detail": "in-scope question refused"}],
                           {"expected": "answer", "found": state})
    return CheckResult("scope", PASS, 1.0, evidence, {"expected": "answer", "found": state})


# --- forbidden ----------------------------------------------------------------------------------

def judge_forbidden(answer: str, patterns: list[str], trace: list[dict] | None = None) -> CheckResult:
    """No forbidden regex may match the answer."""
    evidence = []
    text = re.sub(r"[*_`]+", "", answer)
    for i, pattern in enumerate(patterns):
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            return CheckResult("forbidden", UNCERTAIN, None, [{"pattern": pattern, "detail": f"invalid regex: {exc}"}])
        m = rx.search(text)
        if m:
            sentence = next((s for s in split_sentences(text) if m.group(0) in s), m.group(0))
            evidence.append({"pattern_index": i, "pattern": pattern, "span": m.group(0), "sentence": sentence,
                             "chunk_id": _chunk_for(sentence, trace)})
    score = 1.0 - len(evidence) / len(patterns) if patterns else 1.0
    return CheckResult("forbidden", FAIL if evidence else PASS, score, evidence)


# --- optional LLM judge -------------------------------------------------------------------------

def llm_system(statement: str) -> str:
    """The LLM judge's instructions, with the corpus's doctrine statement (its doctrine.yaml)."""
    return (f"You grade answers from AQ Coach, a sprint-coaching assistant. {statement} "
            "Reply with one JSON object and nothing else.")
LLM_TEMPLATE = """Question: {question}

Answer to grade:
{answer}

Source passages the answer may use:
{sources}

Reply with JSON: {{"framing": "felt" | "none" | "causal" | "unclear", "grounded": true | false, "on_topic": true | false, "reason": "<one sentence>"}}
- framing: "causal" if the answer says or implies that coordination causes, drives, explains or is responsible for speed; "felt" if it frames coordination as a feeling/label; "none" if coordination is not discussed; "unclear" if you cannot tell.
- grounded: true if every factual claim is supported by the source passages (or the answer is a refusal).
- on_topic: true if the answer addresses the question (a refusal of an off-topic request counts as on topic)."""


def parse_llm_output(text: str) -> dict | None:
    """The first JSON object in the model's reply (code fences tolerated), validated; None if unusable."""
    if not isinstance(text, str):
        return None
    start = text.find("{")
    if start < 0:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(text[start:])
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    framing = str(data.get("framing", "")).strip().lower()
    if framing not in ("felt", "none", "causal", "unclear"):
        return None
    out = {"framing": framing, "reason": str(data.get("reason", ""))[:500]}
    for key in ("grounded", "on_topic"):
        value = data.get(key)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        out[key] = value if isinstance(value, bool) else None
    return out


class LLMJudge:
    """An LLM as an extra judge: JSON at temperature 0, answers cached by model and prompt hash."""

    name = "llm"

    def __init__(self, chat_model, model_name: str, cache_dir: Path | None, statement: str) -> None:
        self.chat_model = chat_model
        self.system = llm_system(statement)
        self.model_name = model_name
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.calls = 0          # model calls made (cache misses)

    def prompt(self, question: str, answer: str, sources: list[Source] | None) -> str:
        passages = "\n".join(f"[{n}] ({s.section}{' — ' + s.question if s.question else ''}) {s.content[:1200]}"
                             for n, s in enumerate(sources or [], 1)) or "(none)"
        return LLM_TEMPLATE.format(question=question, answer=answer, sources=passages)

    def _cache_path(self, prompt: str) -> Path | None:
        if not self.cache_dir:
            return None
        digest = hashlib.sha256(f"{self.model_name}\x00{self.system}\x00{prompt}".encode()).hexdigest()
        safe_model = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model_name)[:80] or "model"
        return self.cache_dir / safe_model / f"{digest}.json"

    def _ask(self, prompt: str) -> tuple[str, bool]:
        path = self._cache_path(prompt)
        if path and path.exists():
            try:
                cached = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(cached, dict) and isinstance(cached.get("response"), str):
                    return cached["response"], True
            except (OSError, ValueError):
                pass
        from langchain_core.messages import HumanMessage, SystemMessage

        self.calls += 1
        reply = self.chat_model.invoke([SystemMessage(self.system), HumanMessage(prompt)])
        text = reply.content if hasattr(reply, "content") else str(reply)
        if not isinstance(text, str):
            text = json.dumps(text)
        if path and parse_llm_output(text) is not None:   # only usable replies are cached
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"model": self.model_name, "response": text}), encoding="utf-8")
                os.replace(tmp, path)
            except OSError:
                pass
        return text, False

    def judge(self, question: str, answer: str, sources: list[Source] | None, expect_refusal: bool = False) -> CheckResult:
        prompt = self.prompt(question, answer, sources)
        try:
            text, cached = self._ask(prompt)
        except Exception as exc:  # the endpoint is down, times out, refuses: the judge cannot decide
            return CheckResult("llm", UNCERTAIN, None, [{"detail": f"LLM judge unavailable: {type(exc).__name__}: {exc}"[:300]}])
        parsed = parse_llm_output(text)
        if parsed is None:
            return CheckResult("llm", UNCERTAIN, None, [{"detail": "unparseable judge output", "raw": text[:300]}],
                               {"cached": cached})
        problems = []
        if parsed["framing"] == "causal":
            problems.append("framing: causal")
        if parsed["grounded"] is False:
            problems.append("not grounded")
        if parsed["on_topic"] is False:
            problems.append("off topic")
        evidence = [{"detail": "; ".join(problems) or "ok", "reason": parsed["reason"]}]
        detail = {"cached": cached, **{k: parsed[k] for k in ("framing", "grounded", "on_topic")}}
        if problems:
            return CheckResult("llm", FAIL, 0.0, evidence, detail)
        if parsed["framing"] == "unclear" or parsed["grounded"] is None or parsed["on_topic"] is None:
            return CheckResult("llm", UNCERTAIN, None, evidence, detail)
        return CheckResult("llm", PASS, 1.0, evidence, detail)


def make_llm_judge(settings, enabled: bool | None = None) -> LLMJudge | None:
    """The LLM judge when AQ_EVAL_LLM_JUDGE=1 (or enabled=True), over settings.openai_base_url / openai_model."""
    if not (settings.eval_llm_judge if enabled is None else enabled):
        return None
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:  # pragma: no cover - langchain-openai is a dependency
        raise ValueError("the LLM judge needs langchain-openai: pip install langchain-openai") from exc
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if not settings.openai_base_url and not key:
        raise ValueError("AQ_EVAL_LLM_JUDGE=1 needs an OpenAI-compatible endpoint: set OPENAI_BASE_URL (and OPENAI_API_KEY if it needs one)")
    chat = ChatOpenAI(model=settings.openai_model, base_url=settings.openai_base_url, api_key=key or "not-needed",
                      temperature=0, timeout=settings.llm_timeout_s, max_retries=settings.llm_max_retries)
    chat = chat.bind(response_format={"type": "json_object"})
    from ..indexing import doctrine_for

    return LLMJudge(chat, settings.openai_model, Path(settings.data_dir) / "eval-cache", doctrine_for(settings).statement)
