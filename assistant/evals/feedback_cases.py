"""Rated answers as eval cases: what `aq-coach feedback export --as-eval FILE` writes.

Every thumbs-down, and every answer with a comment, becomes a case of a dataset that `aq-coach eval
--dataset FILE` runs: the athlete's question with the conversation's earlier questions (`turns`), the
answer they were given, their comment and rating (`given_answer`, `comment`, `rating`: for the
maintainer, never scored), and empty `key_points` for the maintainer to fill in. A case is named by
its feedback row (`fb-<id>`), so exporting again names it the same. Until a case has key points (or
another check of its own) the eval skips it (evals.runner.skip_reason).

The file is written through a temporary file in the same folder, checked with the dataset loader,
then moved into place: a failed export never leaves half a file, and never writes over a file
unless asked to (the maintainer's filled-in key points live there).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from .datasets import MAX_QUESTION_CHARS, MAX_TEXT_CHARS, MAX_TURNS, DatasetError, load_dataset

TAG = "feedback"
# A filled case gates the run: every key point present, and no causal framing.
THRESHOLDS = {"framing": 1.0, "key_points": 1.0}

HEADER = """\
# Athletes' rated answers as eval cases, written by `aq-coach feedback export --as-eval` on {when}
# from {source}: every thumbs-down, and every answer with a comment ({count}).
#
# To do, for each case: fill in key_points, what a good answer must say. Each point is a list of
# alternative phrases, any one of which counts, e.g.
#     key_points:
#       - ["a phrase a good answer must contain", "or another way of saying it"]
#       - ["an AQ term the answer must name"]
# Any other check field works too (terms_any, forbidden, lead_any, kind, covered: false,
# scope: out …; see evals/README.md). given_answer, comment and rating are what the athlete was
# shown and said; they are never scored. `turns` are the athlete's questions, oldest first: the
# eval answers each in turn and judges the answer to the last one.
#
# Until a case has key points (or another check), `aq-coach eval --dataset {name}` skips it:
#     feedback case {first}: no key points filled in yet, skipped
# Exporting again writes over this file only with --force: keep your filled-in copy under
# evals/datasets/ (or merge the new cases into it by hand).
"""


class ExportProblem(Exception):
    """The export cannot be written where asked (a folder, a file already there, an unwritable place)."""


@dataclass
class FeedbackExport:
    cases: list[dict] = field(default_factory=list)          # in the dataset's case form, oldest rating first
    notes: dict[str, str] = field(default_factory=dict)      # case id → the comment line written above it
    left_out: list[dict] = field(default_factory=list)       # [{"id", "reason"}]: rated, but nothing to ask
    rows: int = 0                                            # feedback rows read
    praised: int = 0                                         # thumbs-up without a comment: not exported

    def summary(self) -> dict:
        return {"exported": len(self.cases), "multi_turn": sum("turns" in c for c in self.cases),
                "feedback_rows": self.rows, "thumbs_up_without_comment": self.praised, "left_out": self.left_out,
                "cases": [{"id": c["id"], "rating": c["rating"], "turns": len(c.get("turns", [])) or 1,
                           "question": c.get("question") or c["turns"][-1], "comment": c.get("comment")} for c in self.cases]}


def wanted(row: dict) -> bool:
    """Exported: a thumbs-down, or any rated answer the athlete commented on."""
    return int(row.get("rating") or 0) < 0 or bool((row.get("comment") or "").strip())


def collect(store, progress: Callable[[int, int], None] | None = None) -> FeedbackExport:
    """The rated answers of a ConversationStore as cases; `progress(done, total)` after each one."""
    rows = store.export_feedback()
    export = FeedbackExport(rows=len(rows))
    chosen = [r for r in rows if wanted(r)]
    export.praised = len(rows) - len(chosen)
    for n, row in enumerate(chosen, 1):
        earlier = store.messages_before(row["message_id"]) if row.get("message_id") is not None else []
        case = as_case(row, earlier)
        if case is None:
            export.left_out.append({"id": f"fb-{row['id']}", "reason": "no question was stored with it"})
        else:
            export.cases.append(case)
            export.notes[case["id"]] = _note(row)
        if progress is not None:
            progress(n, len(chosen))
    return export


def as_case(row: dict, earlier: list[dict]) -> dict | None:
    """One feedback row as a case: its question after the conversation's earlier questions (the last
    MAX_TURNS in all); None when no question is known."""
    asked = [str(m["content"]).strip() for m in earlier if m.get("role") == "user" and str(m["content"]).strip()]
    question = str(row.get("question") or "").strip() or (asked[-1] if asked else "")
    if not question:
        return None
    if asked and asked[-1] == question:
        asked.pop()                       # the rated answer's own question, stored before it
    turns = [t[:MAX_QUESTION_CHARS] for t in [*asked, question][-MAX_TURNS:]]
    case: dict = {"id": f"fb-{row['id']}"}
    if len(turns) > 1:
        case["turns"] = turns
    else:
        case["question"] = turns[0]
    case["rating"] = "down" if int(row.get("rating") or 0) < 0 else "up"
    comment = (row.get("comment") or "").strip()
    case["comment"] = comment[:MAX_TEXT_CHARS] if comment else None
    case["given_answer"] = str(row.get("answer") or "")[:MAX_TEXT_CHARS]
    case["key_points"] = []
    case["tags"] = [TAG]
    return case


def _note(row: dict) -> str:
    thumb = "thumbs-down" if int(row.get("rating") or 0) < 0 else "thumbs-up"
    when = str(row.get("created_at") or "")[:10] or "an unknown day"
    backend = f", answered by {row['backend']}" if row.get("backend") else ""
    return f"feedback {row['id']}: {thumb} on {when}{backend}"


class _Dumper(yaml.SafeDumper):
    """Safe YAML, with answers that run over several lines written as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def _dump(data) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)


def render(export: FeedbackExport, source: str, name: str) -> str:
    """The dataset file's text: the maintainer's instructions, then every case under a comment line."""
    count = f"{len(export.cases)} case{'s' if len(export.cases) != 1 else ''}"
    parts = [HEADER.format(when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), source=source, count=count, name=name,
                         first=export.cases[0]["id"] if export.cases else "fb-1"),
             _dump({"description": f"Athletes' rated answers ({count}); fill in key_points for each case.",
                    "thresholds": THRESHOLDS}), "cases:\n"]
    for case in export.cases:
        parts.append(f"\n  # {export.notes.get(case['id'], '')}\n")
        parts.append("".join(f"  {line}" if line.strip() else line for line in _dump([case]).splitlines(True)))
    return "".join(parts)


def check_target(path: Path, force: bool) -> None:
    """Refuse, with one line, a FILE that is a folder, that exists (without force), or whose folder does not."""
    if path.is_dir():
        raise ExportProblem(f"{path} is a folder; name a file, e.g. {path / 'feedback.yaml'}")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        raise ExportProblem(f"{path}: the export is YAML; name it .yaml or .yml")
    if path.exists() and not force:
        raise ExportProblem(f"{path} already exists; add --force to write over it (key points filled in there would be lost)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ExportProblem(f"cannot write {path}: {parent} {'is not a folder' if parent.exists() else 'does not exist'}")


def write(path: Path, text: str) -> None:
    """Write `text` to `path` through a checked temporary file; the old file stays until the new one is whole."""
    parent = path.parent if str(path.parent) else Path(".")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".yaml", dir=parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        load_dataset(Path(tmp))           # what `aq-coach eval --dataset` will read; a failure is a bug here
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise ExportProblem(f"cannot write {path}: {exc.strerror or exc}") from None
    except DatasetError as exc:
        raise ExportProblem(f"the export did not validate as a dataset ({exc.reason}); nothing was written") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
