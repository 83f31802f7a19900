"""Eval datasets and answers files: load, validate, and say exactly what is wrong.

A dataset is YAML (`description`, `thresholds`, `cases`) or JSONL (one case per line; an optional
line holding only `thresholds` / `description`). An answers file is JSONL (or YAML) of pre-recorded
answers: `id`, `question`, `answer`, optional `sources`, plus any case check field; unknown fields
are ignored there. Anything wrong with a file (binary, invalid UTF-8, bad YAML/JSON, wrong types,
too big) raises `DatasetError` naming the file, the line and the field, never a traceback. This
module reads and parses the files; what each case field must hold is evals.dataset_schema.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_CASES = 10_000
MAX_TEXT_CHARS = 100_000      # an answer; questions are shorter still
MAX_QUESTION_CHARS = 8_000
MAX_TURNS = 10
MAX_LIST_ITEMS = 200

# Thresholds a dataset may set: per-check pass rates, plus retrieval metrics.
CHECK_THRESHOLDS = ("framing", "terms", "grounding", "scope", "retrieval_recall_at_k", "forbidden", "llm",
                    "key_points", "lead", "no_repeat", "honest_gap", "false_gap", "length")
_RETRIEVAL_THRESHOLD = re.compile(r"^(recall_at_(\d+)|hit_rate_at_(\d+)|mrr(_at_(\d+))?|retrieval_mrr)$")
DEFAULT_THRESHOLDS = {
    "framing": 1.0,
    "terms": 0.8,
    "grounding": 0.7,
    "scope": 0.9,
    "retrieval_recall_at_k": 0.8,
    "forbidden": 1.0,
}


class DatasetError(ValueError):
    """A dataset or answers file cannot be used; the message names file, line and field."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None, field: str | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = self.path or "dataset"
        if line is not None:
            where += f":{line}"
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {message}")


@dataclass
class Source:
    """A source chunk an answer was grounded on (from the service or an answers file)."""

    id: str = ""
    section: str = ""
    question: str = ""
    excerpt: str = ""
    text: str = ""          # the full chunk text, when known; judges prefer it to the excerpt
    title: str = ""
    score: float | None = None

    @property
    def content(self) -> str:
        return self.text or self.excerpt

    def as_dict(self) -> dict:
        data = {"id": self.id, "section": self.section, "question": self.question, "excerpt": self.excerpt}
        if self.title:
            data["title"] = self.title
        if self.score is not None:
            data["score"] = self.score
        return data


@dataclass
class Case:
    id: str
    turns: list[str]                        # single-turn cases have one turn
    tags: list[str] = field(default_factory=list)
    framing: str | None = None
    terms_any: list[str] = field(default_factory=list)
    terms_all: list[str] = field(default_factory=list)
    gold_sections: list[str] = field(default_factory=list)
    scope: str | None = None                 # "out": a refusal is expected
    forbidden: list[str] = field(default_factory=list)
    line: int | None = None
    # answers-file mode
    answer: str | None = None
    sources: list[Source] | None = None
    backend: str | None = None
    # helpfulness
    article: str | None = None               # corpus slug the case needs; "seed": any corpus; "none": no article
    split: str | None = None                 # tune | heldout
    kind: str | None = None                  # yes_no, definition, ...
    key_points: list[list[str]] = field(default_factory=list)   # each point: alternative phrases, any counts
    lead_any: list[str] = field(default_factory=list)
    lead_terms: list[str] = field(default_factory=list)   # the AQ terms asked about: a same-or-different lead names both
    covered: bool | None = None              # False: the articles don't cover it (honest_gap applies)
    # a rated answer exported by `aq-coach feedback export --as-eval`: for the maintainer, never scored
    given_answer: str | None = None
    comment: str | None = None
    rating: str | None = None                # up | down

    @property
    def question(self) -> str:
        return self.turns[-1]

    @property
    def from_feedback(self) -> bool:
        """A case exported from an athlete's rating (it carries the answer given, the comment or the rating)."""
        return self.given_answer is not None or self.comment is not None or self.rating is not None

    def has_own_checks(self) -> bool:
        """Whether the case asks for anything beyond the checks every answer gets (framing, grounding, length …)."""
        return self.has_answer_checks() or bool(self.gold_sections or self.kind)

    @property
    def expects_refusal(self) -> bool:
        return self.scope == "out"

    def has_answer_checks(self) -> bool:
        return bool(self.framing or self.terms_any or self.terms_all or self.scope or self.forbidden
                    or self.key_points or self.lead_any or self.covered is not None)


@dataclass
class Dataset:
    path: Path
    description: str
    thresholds: dict[str, float]
    cases: list[Case]
    kind: str = "dataset"                    # dataset | answers

    @property
    def retrieval_only(self) -> bool:
        """A retrieval set: only gold sections, only retrieval thresholds (e.g. recall_at_3)."""
        if self.kind != "dataset" or not self.cases:
            return False
        if any(c.has_answer_checks() or len(c.turns) > 1 for c in self.cases):
            return False
        if not all(c.gold_sections for c in self.cases):
            return False
        return bool(self.thresholds) and all(_RETRIEVAL_THRESHOLD.match(k) for k in self.thresholds)

    def retrieval_k(self, default: int) -> int:
        """The k of the first recall_at_K / hit_rate_at_K / mrr_at_K threshold, else `default`."""
        for key in self.thresholds:
            m = _RETRIEVAL_THRESHOLD.match(key)
            if m:
                k = m.group(2) or m.group(3) or m.group(5)
                if k:
                    return max(1, min(int(k), 50))
        return default


# --- reading files -----------------------------------------------------------------------------

def _read_text(path: Path) -> str:
    path = Path(path)
    try:
        if not path.exists():
            raise DatasetError("file does not exist", path)
        if path.is_dir():
            raise DatasetError("is a folder, not a file", path)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DatasetError(f"file is too big ({size} bytes; at most {MAX_FILE_BYTES})", path)
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot be read: {exc.strerror or exc}", path) from None
    if b"\x00" in data:
        raise DatasetError("looks like a binary file (NUL bytes); expected UTF-8 YAML or JSONL text", path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError(f"is not valid UTF-8 (byte {exc.start})", path, line) from None
    if not text.strip():
        raise DatasetError("is empty", path)
    return text


def _is_jsonl(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return True
    if suffix in (".yaml", ".yml"):
        return False
    return text.lstrip().startswith("{")


def _parse_yaml(path: Path, text: str) -> tuple[object, dict[int, int], dict[tuple[int, str], int]]:
    """The data, plus line numbers of each case and of each case field (1-based)."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:
        line = text[: max(0, exc.position)].count("\n") + 1
        raise DatasetError(f"contains a character YAML does not allow (#x{exc.character:04x})", path, line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise DatasetError(f"is not valid YAML: {exc.problem or exc}", path, line) from None
    except yaml.YAMLError as exc:
        raise DatasetError(f"is not valid YAML: {exc}", path) from None
    except RecursionError:
        raise DatasetError("is nested too deeply", path) from None
    except (ValueError, TypeError, OverflowError) as exc:   # e.g. an integer with thousands of digits
        raise DatasetError(f"is not valid YAML: {exc}"[:300], path) from None
    finally:
        if loader is not None:
            loader.dispose()
    case_lines: dict[int, int] = {}
    field_lines: dict[tuple[int, str], int] = {}
    seq = None
    if isinstance(node, yaml.SequenceNode):
        seq = node
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "cases" and isinstance(value, yaml.SequenceNode):
                seq = value
    if seq is not None:
        for n, item in enumerate(seq.value):
            case_lines[n] = item.start_mark.line + 1
            if isinstance(item, yaml.MappingNode):
                for key, _value in item.value:
                    if isinstance(key, yaml.ScalarNode):
                        field_lines[(n, str(key.value))] = key.start_mark.line + 1
    return data, case_lines, field_lines


def _parse_jsonl(path: Path, text: str) -> tuple[list[tuple[int, dict]], dict]:
    """(line number, object) per case line, and the header (thresholds/description) if any."""
    rows: list[tuple[int, dict]] = []
    header: dict = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"is not valid JSON: {exc.msg} (column {exc.colno})", path, n) from None
        except RecursionError:
            raise DatasetError("is nested too deeply", path, n) from None
        except ValueError as exc:   # e.g. an integer with thousands of digits
            raise DatasetError(f"is not valid JSON: {exc}"[:300], path, n) from None
        if not isinstance(obj, dict):
            raise DatasetError(f"each line must be a JSON object, got {_type(obj)}", path, n)
        if "id" not in obj and set(obj) <= {"thresholds", "description"}:
            if header:
                raise DatasetError("a second thresholds/description line", path, n)
            header = obj
            header["_line"] = n
            continue
        rows.append((n, obj))
        if len(rows) > MAX_CASES:
            raise DatasetError(f"too many cases (at most {MAX_CASES})", path, n)
    return rows, header


# --- value checks (the case fields that use them: evals.dataset_schema) ------------------------

def _type(value) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "nothing (null)"}.get(type(value), type(value).__name__)


def _string(value, path, line, name, *, limit: int = MAX_QUESTION_CHARS, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise DatasetError(f"must be a string, got {_type(value)}", path, line, name)
    if not empty_ok and not value.strip():
        raise DatasetError("must not be empty", path, line, name)
    if len(value) > limit:
        raise DatasetError(f"is too long ({len(value)} characters; at most {limit})", path, line, name)
    return value


def _strings(value, path, line, name) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        raise DatasetError(f"must be a list of strings, got a string (write [{value!r}])", path, line, name)
    if not isinstance(value, list):
        raise DatasetError(f"must be a list of strings, got {_type(value)}", path, line, name)
    if len(value) > MAX_LIST_ITEMS:
        raise DatasetError(f"has too many items ({len(value)}; at most {MAX_LIST_ITEMS})", path, line, name)
    return [_string(v, path, line, f"{name}[{i}]", limit=2000) for i, v in enumerate(value)]


def _key_points(value, path, line) -> list[list[str]]:
    """A list of points; each point a list of alternative phrases (a bare string is one alternative)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise DatasetError(f"must be a list of points (each a list of alternative phrases), got {_type(value)}",
                           path, line, "key_points")
    if len(value) > MAX_LIST_ITEMS:
        raise DatasetError(f"has too many items ({len(value)}; at most {MAX_LIST_ITEMS})", path, line, "key_points")
    points = []
    for i, point in enumerate(value):
        alts = [point] if isinstance(point, str) else point
        if not isinstance(alts, list):
            raise DatasetError(f"must be a list of alternative phrases, got {_type(point)}", path, line, f"key_points[{i}]")
        if not alts:
            raise DatasetError("must list at least one phrase", path, line, f"key_points[{i}]")
        points.append(_strings(alts, path, line, f"key_points[{i}]"))
    return points


def _load(path: Path, *, answers: bool) -> Dataset:
    # Imported here: the schema is built on this module's DatasetError, Case and value checks.
    from .dataset_schema import check_unique, parse_case, parse_thresholds

    path = Path(path)
    text = _read_text(path)
    default = dict(DEFAULT_THRESHOLDS)
    if _is_jsonl(path, text):
        rows, header = _parse_jsonl(path, text)
        hline = header.get("_line")
        thresholds = parse_thresholds(header.get("thresholds"), path, hline, default=default)
        description = header.get("description", "")
        if not isinstance(description, str):
            raise DatasetError(f"must be a string, got {_type(description)}", path, hline, "description")
        cases = [parse_case(obj, path, n, {}, answers=answers) for n, obj in rows]
    else:
        data, case_lines, field_lines = _parse_yaml(path, text)
        if isinstance(data, list):
            data = {"cases": data}
        if not isinstance(data, dict):
            raise DatasetError(f"must be a mapping with 'cases' (and 'thresholds'), got {_type(data)}", path, 1)
        if "cases" not in data:
            raise DatasetError("missing", path, None, "cases")
        raw_cases = data["cases"]
        if not isinstance(raw_cases, list):
            raise DatasetError(f"must be a list of cases, got {_type(raw_cases)}", path, None, "cases")
        if len(raw_cases) > MAX_CASES:
            raise DatasetError(f"too many cases ({len(raw_cases)}; at most {MAX_CASES})", path, None, "cases")
        thresholds = parse_thresholds(data.get("thresholds"), path, None, default=default)
        description = data.get("description", "") or ""
        if not isinstance(description, str):
            raise DatasetError(f"must be a string, got {_type(description)}", path, None, "description")
        cases = []
        for n, obj in enumerate(raw_cases):
            lines = {k: v for (i, k), v in field_lines.items() if i == n}
            cases.append(parse_case(obj, path, case_lines.get(n), lines, answers=answers))
    if not cases:
        raise DatasetError("has no cases", path)
    check_unique(cases, path)
    return Dataset(path, description.strip(), thresholds, cases, kind="answers" if answers else "dataset")


def load_dataset(path: Path) -> Dataset:
    """A dataset of cases (questions or turns, with the checks to apply); raises DatasetError.

    A labelled question set (a folder of them, or a file with `families:`) gives its held-out
    families as helpfulness cases (assistant.evals.plan_eval.helpfulness_dataset)."""
    path = Path(path)
    if path.is_dir() or (path.suffix in (".yaml", ".yml") and path.exists() and _is_plan_set(path)):
        from ..plan_model import PlanSetError, load_plan_set
        from .plan_eval import helpfulness_dataset

        try:
            return helpfulness_dataset(load_plan_set(path), path)
        except PlanSetError as exc:
            raise DatasetError(str(exc), path) from None
    return _load(path, answers=False)


def _is_plan_set(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as fh:
        return any(line.startswith("families:") for line in fh)


def load_answers(path: Path) -> Dataset:
    """An answers file (JSONL: id, question, answer, optional sources and check fields); raises DatasetError."""
    return _load(path, answers=True)


def merge_checks(answers: Dataset, dataset: Dataset) -> Dataset:
    """Answers graded against a dataset's checks: each answer takes the checks of the case with its id.

    Check fields written on the answer line win; answers whose id is not in the dataset keep their own.
    The dataset's thresholds apply.
    """
    by_id = {c.id: c for c in dataset.cases}
    merged = []
    for a in answers.cases:
        base = by_id.get(a.id)
        if base is not None:
            a.tags = a.tags or list(base.tags)
            a.framing = a.framing or base.framing
            a.terms_any = a.terms_any or list(base.terms_any)
            a.terms_all = a.terms_all or list(base.terms_all)
            a.gold_sections = a.gold_sections or list(base.gold_sections)
            a.scope = a.scope or base.scope
            a.forbidden = a.forbidden or list(base.forbidden)
            for name in ("article", "split", "kind", "covered"):
                if getattr(a, name) is None:
                    setattr(a, name, getattr(base, name))
            a.key_points = a.key_points or [list(p) for p in base.key_points]
            a.lead_any = a.lead_any or list(base.lead_any)
            a.given_answer, a.comment, a.rating = base.given_answer, base.comment, base.rating
        merged.append(a)
    return Dataset(answers.path, answers.description or dataset.description, dict(dataset.thresholds), merged, kind="answers")
