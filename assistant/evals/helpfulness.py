"""Helpfulness judges: does the answer say the right thing for the question?

- key_points: every listed point is present (a phrase, normalised, or a MiniLM paraphrase);
- lead: the first two sentences address the question;
- no_repeat: no sentence repeats (or is contained in) another;
- length: a readable word count;
- honest_gap: a question the articles don't cover is admitted plainly, with no invented plan.

Each returns a `CheckResult` (pass / fail / uncertain) with evidence saying why.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..retrieval import tokenize
from ..text import CITATION_MARK, split_sentences, stem_words, strip_citations
from .judges import FAIL, PASS, UNCERTAIN, CheckResult, _cosine

# MiniLM cosine, phrase vs answer sentence/clause. Tuned on the tune split of
# evals/judges/helpfulness_labelled.yaml with selftest.tune_key_point_cosine(): 0.69-0.70 tie with 0.30-0.33
# for best tune accuracy; the high band is kept (0.3 matches unrelated sentences). Tests check it stays a best value.
KEY_POINT_COSINE = 0.70
KEY_POINT_BAND = 0.03          # cosine within ± this of the threshold: uncertain

LEAD_SENTENCES = 2             # "the lead": the first two sentences
REPEAT_CONTAINMENT = 0.8       # share of the shorter sentence's content words found in the other
REPEAT_MIN_TOKENS = 3          # shorter sentences (bullet labels, connectives) are not compared
LENGTH_PASS = (40, 160)        # words, citations and the sources list excluded
LENGTH_UNCERTAIN = (30, 200)   # outside LENGTH_PASS but inside this: uncertain

_TRANSLATE = str.maketrans({"’": "'", "‘": "'", "`": "'", "“": '"', "”": '"', "«": '"', "»": '"',
                            "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "−": "-"})
_SOURCES_HEAD = re.compile(r"^\s*(?:#+\s*)?[*_]*\s*(?:sources?|references?)\s*[*_]*\s*:?\s*[*_]*\s*$", re.I)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")



# --- normalising --------------------------------------------------------------------------------

def normalise(text: str) -> str:
    """Lowercase, curly quotes and dashes straightened, markdown emphasis removed."""
    text = (text or "").translate(_TRANSLATE).lower()
    return re.sub(r"[*_#>]+", " ", text)


def body(answer: str) -> str:
    """The answer without its sources list and [n] citations."""
    lines = []
    for line in (answer or "").translate(_TRANSLATE).splitlines():
        if _SOURCES_HEAD.match(line):
            break
        lines.append(line)
    return strip_citations("\n".join(lines))


def sentences(answer: str) -> list[str]:
    return [s for s in split_sentences(body(answer)) if _WORD.search(s.lower())]


def stems(text: str) -> list[str]:
    """Every word (stop words kept), Snowball-stemmed: plural and verb-form tolerant."""
    return stem_words([w.replace("'", "") for w in _WORD.findall(normalise(text).replace("-", " "))])


PHRASE_GAP = 4                 # extra words a phrase may be spread over, in order ("easier for the system to organize")


def phrase_in(phrase: str, text: str, gap: int = 0) -> bool:
    """The phrase's stems appear in order in the text's stems, within len(phrase) + gap words."""
    p, t = stems(phrase), stems(text)
    if not p:
        return False
    if gap == 0:
        return any(t[i:i + len(p)] == p for i in range(len(t) - len(p) + 1))
    for i, word in enumerate(t):
        if word != p[0]:
            continue
        j, end = 1, i + 1
        while j < len(p) and end < min(len(t), i + len(p) + gap):
            if t[end] == p[j]:
                j += 1
            end += 1
        if j == len(p):
            return True
    return False


# --- key points ---------------------------------------------------------------------------------

def _lexical_point(point: list[str], sents: list[str]) -> dict:
    for gap, how in ((0, "phrase"), (PHRASE_GAP, "phrase, spread")):
        for alt in point:
            for s in sents:
                if phrase_in(alt, s, gap):
                    return {"point": point, "status": "present", "how": how, "phrase": alt, "sentence": s}
    return {"point": point, "status": "missing", "how": None}


_CLAUSE = re.compile(r"\s*(?:[,;:()]|\s-\s|\b(?:and|but|so|because|while|when|which)\b)\s*")
KEY_POINT_CLAUSES = True       # also compare against each sentence's clauses: a short phrase matches a clause better


def _units(sents: list[str]) -> list[str]:
    """The answer sentences, plus their clauses of 3+ words when KEY_POINT_CLAUSES is on."""
    units = list(sents)
    if KEY_POINT_CLAUSES:
        for s in sents:
            parts = [c.strip() for c in _CLAUSE.split(s) if c and len(c.split()) >= 3]
            units += [c for c in parts if c not in units]
    return units


def _semantic(rows: list[dict], sents: list[str], embeddings) -> None:
    """Score the points not found verbatim by their best cosine to any answer sentence (or clause)."""
    sents = _units(sents)
    alts = list(dict.fromkeys(a for r in rows for a in r["point"]))
    vectors = embeddings.embed_documents(alts + sents)
    by_alt = dict(zip(alts, vectors[:len(alts)]))
    svecs = vectors[len(alts):]
    for r in rows:
        best = max(((_cosine(by_alt[a], v), a, s) for a in r["point"] for s, v in zip(sents, svecs)), key=lambda x: x[0])
        cos, alt, sent = best
        r.update(cosine=round(cos, 4), phrase=alt, sentence=sent, how="semantic")
        if cos >= KEY_POINT_COSINE + KEY_POINT_BAND:
            r["status"] = "present"
        elif cos >= KEY_POINT_COSINE - KEY_POINT_BAND:
            r["status"] = "uncertain"


def judge_key_points(answer: str, key_points: list[list[str]], embeddings=None) -> CheckResult:
    """Each point (alternative phrases) is present verbatim-ish or as a close paraphrase."""
    sents = sentences(answer)
    rows = [_lexical_point(list(p), sents) for p in key_points]
    pending = [r for r in rows if r["status"] != "present"]
    if pending and sents and embeddings is not None:
        _semantic(pending, sents, embeddings)
    elif pending and embeddings is None:
        for r in pending:
            r.update(status="uncertain", detail="not found verbatim; no embeddings for a semantic match")
    n = {k: sum(r["status"] == k for r in rows) for k in ("present", "missing", "uncertain")}
    verdict = FAIL if n["missing"] else UNCERTAIN if n["uncertain"] else PASS
    evidence = [{"point": r["point"][:4], "status": r["status"],
                 **{k: r[k] for k in ("how", "phrase", "cosine", "sentence", "detail") if r.get(k) is not None}}
                for r in rows]
    return CheckResult("key_points", verdict, n["present"] / len(rows) if rows else 1.0, evidence,
                       {"points": len(rows), **n, "threshold": KEY_POINT_COSINE, "band": KEY_POINT_BAND})


# --- lead ---------------------------------------------------------------------------------------

_STANCE = re.compile(r"^\W*(?:\w+\W+){0,5}?(yes|yeah|yep|no|nope|not|partly|partially|sometimes|mostly|absolutely|"
                     r"definitely|it depends|sort of|kind of|in a way|in part|correct|right|true|false|wrong)\b")
# Question words, filler and the words nearly every sprinting answer uses: never the subject.
_GENERIC = ("sprint sprinting sprinter sprinters sprints run running runner runs race racing aq athlete athletes "
            "coach coaches coached actually really basically exactly simple simply words word explain tell mean "
            "means meant say says said think thought know want need get getting got make makes thing things way "
            "lot much many also always ever often just like even still try trying should would could can "
            "does did do doing going go keep keeps better good well feel feels feeling").split()
_generic_stems: set[str] | None = None


def subject_words(question: str) -> list[str]:
    """The question's content words (stemmed), stop words and generic sprinting words removed."""
    global _generic_stems
    if _generic_stems is None:
        _generic_stems = set(tokenize(" ".join(_GENERIC)))
    return list(dict.fromkeys(t for t in tokenize(normalise(question)) if t not in _generic_stems and len(t) > 2))


@lru_cache(maxsize=1)
def _felt_words() -> re.Pattern:
    """Words that say how sprinting feels: "feel" and the corpus doctrine's stance words (corpus data,
    read once, like _sides())."""
    from ..config import Settings
    from ..indexing import doctrine_for

    d = doctrine_for(Settings())
    return re.compile(rf"\b(?:feel\w*|felt)\b|{d.improving.pattern}|{d.disrupted.pattern}", re.I)


# "What to work on": the lead says what to change (any wording), besides naming an AQ term.
_WORK_ON = re.compile(r"\b(?:needs? to|work(?:ing)? on|focus\w*|train\w*|build\w*|develop\w*|practi[cs]\w*|aim\w*|"
                      r"improv\w*|become\w*|cleaner|more aggressive\w*|more continuous\w*)\b", re.I)
# A plain correction: the first sentence disagrees.
_CORRECTS = re.compile(r"\b(?:not|no|isn'?t|aren'?t|doesn'?t|don'?t|never|wrong|rather|actually|instead|but)\b", re.I)


@lru_cache(maxsize=1)
def _sides() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    """How improving and disrupted sprinting are described (the doctrine's stance words), and the
    AQ terms (the glossary's): corpus data, read once."""
    from ..config import Settings
    from ..indexing import doctrine_for, glossary_for

    d = doctrine_for(Settings())
    names = [t.term for t in glossary_for(Settings())]
    # a hyphenated word of a term that is not a term itself ("sprint-system") names AQ's terms too
    compounds = [w for n in names for w in n.split() if "-" in w and w.replace("-", " ") not in names]
    names = [re.escape(n).replace("\\-", "[- ]") for n in dict.fromkeys(names + compounds)]
    return d.improving, d.disrupted, re.compile(r"\b(?:" + "|".join(names) + r")\b", re.I)


def _kind_lead_feel(kind: str | None, lead: list[str], text: str, question: str = "") -> tuple[bool, dict] | None:
    """The lead checks of the kinds about feelings, training and disagreement (plan_model.KINDS)."""
    improving, disrupted, aq_terms = _sides()
    felt = _felt_words().search(text)
    term = aq_terms.search(text)
    if kind == "why_feel":
        return bool(felt and term), {"needs": "the feeling and what is underneath it, in AQ's terms",
                                     "felt": felt and felt.group(0), "term": term and term.group(0)}
    if kind == "work_on":
        cue = _WORK_ON.search(text)
        return bool(cue and term), {"needs": "what to work on, in AQ's terms", "cue": cue and cue.group(0),
                                    "term": term and term.group(0)}
    if kind == "contrast":
        good, bad = improving.search(text), disrupted.search(text)
        return bool(good and bad), {"needs": "both situations (improving and disrupted)",
                                    "improving": good and good.group(0), "disrupted": bad and bad.group(0)}
    if kind == "pushback":
        # a correction that engages with what the athlete claimed, not a disclaimer before any passage
        m = _CORRECTS.search(lead[0]) if lead else None
        shared = [w for w in subject_words(question) if w in set(tokenize(text)) and not _CORRECTS.fullmatch(w)]
        return bool(m and shared), {"needs": "a plain correction of the claim first", "match": m and m.group(0),
                                    "claim_words": shared[:5]}
    return None


def _kind_lead(kind: str | None, lead: list[str], text: str, lead_terms: list[str],
               question: str = "") -> tuple[bool, dict] | None:
    """What the kind of ask needs in the lead (plan_model.KINDS): a verdict word for yes/no, both
    terms for same-or-different, felt words for how-would-I-know, the term for a definition.
    None when the kind asks nothing particular."""
    terms = [t for t in lead_terms if t]
    if kind == "yes_no":
        m = _STANCE.search(normalise(lead[0])) if lead else None
        return bool(m), {"via": "stance", "needs": "a verdict word at the start", "match": m.group(1) if m else None}
    if kind == "same_or_different" and len(terms) >= 2:
        missing = [t for t in terms[:2] if not phrase_in(t.replace("-", " "), text.replace("-", " "))]
        return not missing, {"needs": "both terms", "missing": missing}
    if kind == "signs":
        m = _felt_words().search(text)
        return bool(m), {"needs": "how it feels", "match": m.group(0) if m else None}
    if kind == "greeting":
        short = len(" ".join(lead).split()) <= 80 and not CITATION_MARK.search(" ".join(lead))
        return short, {"needs": "a short reply, citing nothing"}
    if kind == "about_aq":
        ok = bool(re.search(r"\baq\b", text))
        return ok, {"needs": "what AQ is"}
    if kind == "definition" and terms:
        ok = phrase_in(terms[0].replace("-", " "), text.replace("-", " "))
        return ok, {"needs": "the term defined", "term": terms[0]}
    return _kind_lead_feel(kind, lead, text, question)


def judge_false_gap(answer: str) -> CheckResult:
    """A question the articles cover is not answered "not covered"."""
    gap = find_gap(sentences(answer)[:LEAD_SENTENCES])
    if gap:
        return CheckResult("false_gap", FAIL, 0.0, [{"detail": "says the articles don't cover a covered question",
                                                     "sentence": gap["sentence"]}])
    return CheckResult("false_gap", PASS, 1.0, [])


def judge_lead(answer: str, question: str, lead_any: list[str] | None = None, kind: str | None = None,
               covered: bool | None = None, lead_terms: list[str] | None = None) -> CheckResult:
    """The first two sentences address the question: what its kind of ask needs, else a lead_any
    word, the subject, or the kind of answer asked."""
    lead = sentences(answer)[:LEAD_SENTENCES]
    text = " ".join(lead)
    strict = _kind_lead(kind, lead, normalise(text), lead_terms or [], question) if covered is not False else None
    if strict is not None:
        ok, why = strict
        return CheckResult("lead", PASS if ok else FAIL, 1.0 if ok else 0.0, [{"lead": lead}, {"kind": kind, **why}],
                           {"via": [why.get("via", kind)]} if ok else {})
    found = []
    hit = next((w for w in lead_any or [] if phrase_in(w, text)), None)
    if hit:
        found.append({"via": "lead_any", "match": hit})
    lead_tokens = set(tokenize(normalise(text)))
    subject = subject_words(question)
    shared = [w for w in subject if w in lead_tokens]
    if shared:
        found.append({"via": "subject", "match": shared})
    if kind == "yes_no" and lead:
        m = _STANCE.search(normalise(lead[0]))
        if m:
            found.append({"via": "stance", "match": m.group(1)})
    if covered is False:
        gap = find_gap(lead)
        if gap:
            found.append({"via": "gap admission", "match": gap["span"]})
    evidence = [{"lead": lead}] + found
    if found:
        return CheckResult("lead", PASS, 1.0, evidence, {"via": [f["via"] for f in found]})
    evidence.append({"detail": "the first two sentences do not address the question",
                     "looked_for": {"lead_any": (lead_any or [])[:12], "subject": subject[:12],
                                    **({"stance": "yes/no/not/partly at the start"} if kind == "yes_no" else {}),
                                    **({"gap": "an admission the articles don't cover it"} if covered is False else {})}})
    return CheckResult("lead", FAIL, 0.0, evidence)


# --- no repeat ----------------------------------------------------------------------------------

def judge_no_repeat(answer: str) -> CheckResult:
    """No sentence repeats another or is contained in another (≥ 0.8 of the shorter's content words)."""
    sents = [s for s in sentences(answer) if not s.rstrip(" *_").endswith(":")]   # headings / lead-ins are not claims
    toks = [set(tokenize(normalise(s))) for s in sents]
    plain = [" ".join(stems(s)) for s in sents]
    repeats = []
    for j in range(len(sents)):
        for i in range(j):
            a, b = toks[i], toks[j]
            short = min(len(a), len(b))
            exact = plain[i] == plain[j] and len(plain[i].split()) >= REPEAT_MIN_TOKENS
            if not exact and short < REPEAT_MIN_TOKENS:
                continue
            containment = 1.0 if exact else len(a & b) / short
            if containment >= REPEAT_CONTAINMENT:
                repeats.append({"sentence": sents[j], "repeats": sents[i], "containment": round(containment, 3),
                                "positions": [i + 1, j + 1]})
                break
    score = 1.0 - len(repeats) / len(sents) if sents else 1.0
    return CheckResult("no_repeat", FAIL if repeats else PASS, score, repeats, {"sentences": len(sents)})


# --- length -------------------------------------------------------------------------------------

def word_count(answer: str) -> int:
    return len(re.findall(r"[A-Za-z0-9]+(?:['\-][A-Za-z0-9]+)*", body(answer)))


def judge_length(answer: str) -> CheckResult:
    """40-160 words pass; 30-40 or 160-200 uncertain; anything else fails."""
    n = word_count(answer)
    lo, hi = LENGTH_PASS
    ulo, uhi = LENGTH_UNCERTAIN
    if lo <= n <= hi:
        verdict, why = PASS, f"{n} words (within {lo}-{hi})"
    elif ulo <= n <= uhi:
        verdict, why = UNCERTAIN, f"{n} words ({'short' if n < lo else 'long'}: {lo}-{hi} expected)"
    else:
        verdict, why = FAIL, f"{n} words ({'too short' if n < ulo else 'too long'}: {lo}-{hi} expected)"
    return CheckResult("length", verdict, None, [{"detail": why}], {"words": n, "range": [lo, hi]})


# --- honest gap ---------------------------------------------------------------------------------

_NEG = r"(?:do not|don't|dont|does not|doesn't|doesnt|did not|didn't|never|can't|cannot|won't)"
_SUBJ = r"(?:articles?|aq|aq's|he|they|it|writing|material|sources?|i)"
_GAP = [re.compile(p) for p in (
    rf"\b{_SUBJ}\b[^.?!]{{0,40}}\b{_NEG}\s+(?:\w+\s+)?(?:cover|address|discuss|deal with|go into|get into|name|"
    rf"prescribe|give|offer|mention|talk about|include|list|recommend|spell out|describe|provide|set out|lay out|say)",
    r"\bnot something (?:that )?(?:aq|the articles|aq's articles|i)",
    r"\b(?:isn't|is not|aren't|are not|wasn't)\s+(?:really\s+)?(?:covered|something|a topic|part of|discussed|addressed|in)\b"
    r"[^.?!]{0,40}\b(?:aq|articles?)",
    r"\b(?:isn't|is not|aren't|are not) (?:covered|discussed|addressed)\b",
    r"\bno (?:specific |particular )?(?:drills?|warm ?-?ups?|programs?|programmes?|exercises?|sets|plan|workouts?|"
    r"advice|guidance|recommendations?|numbers?)\b[^.?!]{0,50}\b(?:articles?|aq)\b",
    r"\b(?:articles?|aq)\b[^.?!]{0,40}\b(?:say nothing|are silent|is silent|stay silent|has nothing|have nothing)\b",
    r"\bnothing (?:in|from) (?:the |aq's )?articles?",
    r"\b(?:outside|beyond) (?:what|the scope of) (?:the |aq's )?(?:articles?|aq)",
    r"\b(?:can't|cannot|couldn't|could not) find (?:anything|that|this)\b",
)]


def find_gap(sents: list[str]) -> dict | None:
    """The first sentence admitting the articles don't cover the question, with the matching span."""
    for n, s in enumerate(sents, 1):
        norm = normalise(s).replace("-", " ")
        for rx in _GAP:
            m = rx.search(norm)
            if m:
                return {"sentence": s, "span": m.group(0), "position": n}
    return None


_DOSE = re.compile(r"\b\d+\s*(?:x|×)\s*\d+\b|\b\d+(?:\s*(?:-|to)\s*\d+)?\s*(?:sets?|reps?|repetitions?|rounds?|minutes?|"
                   r"mins?|seconds?|secs?|metres?|meters?|m|yards?|yds?|strides|times|kg|lbs?|percent|%)(?![a-z])"
                   r"|\b(?:sets?|reps?) of\b|\b(?:once|twice|three times) (?:a|per) (?:week|day|session)\b")
_DO_DRILLS = re.compile(r"\b(?:do|try|perform|add|include|start with|finish with|use|practi[cs]e|run through)\s+"
                        r"(?:[\w'-]+\s+){0,3}?(?:drills?|exercises?|skips?|bounds?|lunges?|squats?|stretch(?:es)?|"
                        r"plyometrics?|jumps?|warm ?-?ups?|strides|sprints|reps|sets|hops?|a-skips?|b-skips?)\b")
_STEP = re.compile(r"(?m)^\s*(?:\d+[.)]|step \d+\b|[-*•]\s+(?:jog|do|perform|skip|run|hold|stretch|start|finish|add|"
                   r"spend|repeat|walk|bound|hop|swing|march|lunge|squat|rest)\b)")


def find_plan(answer: str) -> list[dict]:
    """Signs of an invented plan: numbered/imperative bullet steps, sets/reps/minutes, 'do X drills'."""
    text = normalise(body(answer))
    found = []
    steps = _STEP.findall(text)
    if len(steps) >= 2:
        found.append({"rule": "step list", "span": " | ".join(s.strip() for s in steps[:4])})
    for rule, rx in (("dosage", _DOSE), ("do drills", _DO_DRILLS)):
        for m in rx.finditer(text):
            start = text.rfind("\n", 0, m.start()) + 1
            before = text[max(start, m.start() - 25):m.start()]
            if re.search(r"\b(?:not|no|n't|dont|never|nor|or)\s*(?:\w+\s+){0,2}$", before) or re.search(r"\bnot\b|n't", m.group(0)):
                continue   # "doesn't prescribe sets", "no drills": part of an honest gap
            found.append({"rule": rule, "span": m.group(0)})
            break
    return found


def judge_honest_gap(answer: str, covered: bool | None) -> CheckResult | None:
    """covered: false only (else None, not applied): admit the gap in the lead and invent no plan."""
    if covered is not False:
        return None
    sents = sentences(answer)
    gap = find_gap(sents)
    plan = find_plan(answer)
    lead = sents[:LEAD_SENTENCES]
    evidence = []
    if gap:
        evidence.append({"admission": gap["sentence"], "span": gap["span"], "position": gap["position"]})
    if plan:
        evidence.extend({"detail": "invents a plan", **p} for p in plan)
    if gap is None or gap["position"] > LEAD_SENTENCES:
        why = "no admission that the articles don't cover it" if gap is None else "the gap is admitted only after the lead"
        evidence.insert(0, {"detail": why, "lead": lead})
    ok = gap is not None and gap["position"] <= LEAD_SENTENCES and not plan
    return CheckResult("honest_gap", PASS if ok else FAIL, 1.0 if ok else 0.0, evidence,
                       {"admitted": bool(gap), "plan": bool(plan)})
