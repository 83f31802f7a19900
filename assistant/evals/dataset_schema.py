"""The dataset schema: the fields a case may have and what each must hold.

Validates one case (or one answers-file line) into a `Case`, and a dataset's thresholds, raising
`DatasetError` with the line and field that is wrong. evals.datasets reads the files and calls these.
"""

from __future__ import annotations

import re
from pathlib import Path

from .datasets import (
    _RETRIEVAL_THRESHOLD,
    CHECK_THRESHOLDS,
    MAX_LIST_ITEMS,
    MAX_TEXT_CHARS,
    MAX_TURNS,
    Case,
    DatasetError,
    Source,
    _key_points,
    _string,
    _strings,
    _type,
)

CASE_FIELDS = ("id", "question", "turns", "tags", "framing", "terms_any", "terms_all", "gold_sections", "scope",
               "forbidden", "note", "notes", "article", "split", "kind", "key_points", "lead_any", "covered",
               "given_answer", "comment", "rating")
ANSWER_FIELDS = ("answer", "sources", "backend")
SOURCE_FIELDS = ("id", "title", "section", "excerpt", "text", "question", "score")
FRAMING_VALUES = ("felt",)
SCOPE_VALUES = ("in", "out")
# Helpfulness fields: the article a case needs (`seed`: any corpus, `none`: no article), the split, the kind.
SPLIT_VALUES = ("tune", "heldout")
KIND_VALUES = ("yes_no", "definition", "how_to", "why", "feel_good", "feel_bad", "comparison", "two_part", "about_aq",
               "other")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
# A rated answer exported as a case (`aq-coach feedback export --as-eval`): what the athlete saw and said.
RATING_VALUES = ("up", "down")


def parse_thresholds(value, path, line, *, default: dict[str, float]) -> dict[str, float]:
    if value is None:
        return dict(default)
    if not isinstance(value, dict):
        raise DatasetError(f"must be a mapping of check name to pass rate, got {_type(value)}", path, line, "thresholds")
    out: dict[str, float] = {}
    for key, rate in value.items():
        name = f"thresholds.{key}"
        if not isinstance(key, str) or not (key in CHECK_THRESHOLDS or _RETRIEVAL_THRESHOLD.match(key)):
            known = ", ".join(CHECK_THRESHOLDS) + ", recall_at_K, hit_rate_at_K, mrr"
            raise DatasetError(f"unknown threshold (known: {known})", path, line, name)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != rate:
            raise DatasetError(f"must be a number from 0 to 1, got {_type(rate)}", path, line, name)
        if not 0 <= rate <= 1:
            raise DatasetError(f"must be from 0 to 1, got {rate}", path, line, name)
        out[key] = float(rate)
    return out


def _sources(value, path, line) -> list[Source] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise DatasetError(f"must be a list of source objects, got {_type(value)}", path, line, "sources")
    if len(value) > MAX_LIST_ITEMS:
        raise DatasetError(f"has too many items ({len(value)})", path, line, "sources")
    out = []
    for i, src in enumerate(value):
        name = f"sources[{i}]"
        if not isinstance(src, dict):
            raise DatasetError(f"must be an object with id/section/excerpt, got {_type(src)}", path, line, name)
        kw = {}
        for key in ("id", "title", "section", "excerpt", "text", "question"):
            if key in src and src[key] is not None:
                v = src[key]
                if isinstance(v, (int, float)) and not isinstance(v, bool) and key == "id":
                    v = str(v)
                kw[key] = _string(v, path, line, f"{name}.{key}", limit=MAX_TEXT_CHARS, empty_ok=True)
        score = src.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise DatasetError(f"must be a number, got {_type(score)}", path, line, f"{name}.score")
        out.append(Source(score=float(score) if score is not None else None, **kw))
    return out


def parse_case(obj, path: Path, line: int | None, field_lines: dict[str, int], *, answers: bool) -> Case:
    """One case (or answers-file line) as a `Case`; the first wrong field raises DatasetError."""
    def at(name: str) -> int | None:
        return field_lines.get(name, line)

    if not isinstance(obj, dict):
        raise DatasetError(f"each case must be a mapping, got {_type(obj)}", path, line)
    if not answers:
        _refuse_unknown_fields(obj, path, at)
    case_id = _case_id(obj, path, line, at)
    turns = _turns(obj, path, line, at)

    framing = obj.get("framing")
    if framing is not None and framing not in FRAMING_VALUES:
        raise DatasetError(f"must be one of {', '.join(FRAMING_VALUES)}, got {framing!r}"[:200], path, at("framing"), "framing")
    scope = obj.get("scope")
    if scope is not None and scope not in SCOPE_VALUES:
        raise DatasetError(f"must be one of {', '.join(SCOPE_VALUES)}, got {scope!r}"[:200], path, at("scope"), "scope")
    forbidden = _forbidden(obj, path, at)

    helpful = _helpfulness_fields(obj, path, at)
    if not answers:   # an answers file's own fields are ignored; its feedback fields come from the dataset
        helpful.update(_feedback_fields(obj, path, at))
    case = Case(
        id=case_id,
        turns=turns,
        tags=_strings(obj.get("tags"), path, at("tags"), "tags"),
        framing=framing,
        terms_any=_strings(obj.get("terms_any"), path, at("terms_any"), "terms_any"),
        terms_all=_strings(obj.get("terms_all"), path, at("terms_all"), "terms_all"),
        gold_sections=_strings(obj.get("gold_sections"), path, at("gold_sections"), "gold_sections"),
        scope=scope,
        forbidden=forbidden,
        line=line,
        **helpful,
    )
    if answers:
        _answer_fields(case, obj, path, line, at)
    return case


def _refuse_unknown_fields(obj: dict, path: Path, at) -> None:
    # Datasets only: an answers file may carry fields of its own, which are ignored.
    unknown = [k for k in obj if k not in CASE_FIELDS]
    if unknown:
        k = unknown[0]
        raise DatasetError(f"unknown field (known: {', '.join(f for f in CASE_FIELDS if not f.startswith('note'))})", path, at(str(k)), str(k))


def _case_id(obj: dict, path: Path, line: int | None, at) -> str:
    if "id" not in obj:
        raise DatasetError("missing", path, line, "id")
    case_id = obj["id"]
    if isinstance(case_id, int) and not isinstance(case_id, bool):
        case_id = str(case_id)
    return _string(case_id, path, at("id"), "id", limit=200)


def _turns(obj: dict, path: Path, line: int | None, at) -> list[str]:
    """A multi-turn case's `turns`, or its one `question` as a single turn."""
    question, turns = obj.get("question"), obj.get("turns")
    if question is not None and turns is not None:
        raise DatasetError("give either question or turns, not both", path, at("turns"), "turns")
    if turns is not None:
        if not isinstance(turns, list) or not turns:
            raise DatasetError(f"must be a non-empty list of strings, got {_type(turns)}", path, at("turns"), "turns")
        if len(turns) > MAX_TURNS:
            raise DatasetError(f"has too many turns ({len(turns)}; at most {MAX_TURNS})", path, at("turns"), "turns")
        turns = [_string(t, path, at("turns"), f"turns[{i}]") for i, t in enumerate(turns)]
    elif question is not None:
        turns = [_string(question, path, at("question"), "question")]
    else:
        raise DatasetError("missing (give question, or turns for a multi-turn case)", path, line, "question")
    return turns


def _forbidden(obj: dict, path: Path, at) -> list[str]:
    forbidden = _strings(obj.get("forbidden"), path, at("forbidden"), "forbidden")
    for i, pattern in enumerate(forbidden):
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            raise DatasetError(f"is not a valid regex: {exc}", path, at("forbidden"), f"forbidden[{i}]") from None
    return forbidden


def _answer_fields(case: Case, obj: dict, path: Path, line: int | None, at) -> None:
    """An answers-file line's recorded answer, its sources and the backend that wrote it."""
    if "answer" not in obj:
        raise DatasetError("missing", path, line, "answer")
    case.answer = _string(obj["answer"], path, at("answer"), "answer", limit=MAX_TEXT_CHARS, empty_ok=True)
    case.sources = _sources(obj.get("sources"), path, at("sources"))
    backend = obj.get("backend")
    case.backend = _string(backend, path, at("backend"), "backend", limit=200) if backend is not None else None


def _choice(obj, name, values, path, at) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value not in values:
        raise DatasetError(f"must be one of {', '.join(values)}, got {value!r}"[:300], path, at(name), name)
    return value


def _helpfulness_fields(obj: dict, path, at) -> dict:
    out: dict = {}
    article = obj.get("article")
    if article is not None and (not isinstance(article, str) or not _SLUG.match(article)):
        raise DatasetError(f"must be a corpus slug (lowercase letters, digits, hyphens), 'seed' or 'none', got {article!r}"[:300],
                           path, at("article"), "article")
    out["article"] = article
    out["split"] = _choice(obj, "split", SPLIT_VALUES, path, at)
    out["kind"] = _choice(obj, "kind", KIND_VALUES, path, at)
    covered = obj.get("covered")
    if covered is not None and not isinstance(covered, bool):
        raise DatasetError(f"must be true or false, got {_type(covered)}", path, at("covered"), "covered")
    out["covered"] = covered
    out["key_points"] = _key_points(obj.get("key_points"), path, at("key_points"))
    out["lead_any"] = _strings(obj.get("lead_any"), path, at("lead_any"), "lead_any")
    return out


def _feedback_fields(obj: dict, path, at) -> dict:
    """The answer the athlete rated, their comment and their rating: information for the maintainer, never scored."""
    out: dict = {"rating": _choice(obj, "rating", RATING_VALUES, path, at)}
    for name in ("given_answer", "comment"):
        value = obj.get(name)
        out[name] = None if value is None else _string(value, path, at(name), name, limit=MAX_TEXT_CHARS, empty_ok=True)
    return out


def check_unique(cases: list[Case], path: Path) -> None:
    seen: dict[str, int | None] = {}
    for c in cases:
        if c.id in seen:
            first = f" (first at line {seen[c.id]})" if seen[c.id] else ""
            raise DatasetError(f"duplicate id {c.id!r}{first}", path, c.line, "id")
        seen[c.id] = c.line
