"""The run summary's tables, from the case results: per check, per split and per tag, the retrieval
figures, each threshold with the figure it gates, and why each helpfulness check did not pass."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .judges import FAIL, PASS, UNCERTAIN, CheckResult

if TYPE_CHECKING:   # annotations only: the runner imports this module
    from .runner import CaseResult

HELPFULNESS_CHECKS = ("key_points", "lead", "no_repeat", "honest_gap", "false_gap", "length")
CHECK_ORDER = ("framing", "terms", "grounding", "scope", "retrieval", "forbidden", "llm") + HELPFULNESS_CHECKS
_THRESHOLD_CHECK = {"framing": "framing", "terms": "terms", "grounding": "grounding", "scope": "scope",
                    "retrieval_recall_at_k": "retrieval", "forbidden": "forbidden", "llm": "llm",
                    **{name: name for name in HELPFULNESS_CHECKS}}


def pass_rate(passed: int, total: int) -> float | None:
    return round(passed / total, 4) if total else None


def split_summary(cases: list[CaseResult]) -> dict:
    """Per split (tune / heldout): case verdicts and each check's pass rate, reported separately."""
    out: dict[str, dict] = {}
    for split in sorted({r.split for r in cases if r.split}):
        rows = [r for r in cases if r.split == split]
        n = {v: sum(r.verdict == v for r in rows) for v in (PASS, FAIL, UNCERTAIN)}
        checks = {}
        for name in CHECK_ORDER:
            applied = [c for r in rows for c in r.checks if c.name == name]
            if applied:
                passed = sum(c.verdict == PASS for c in applied)
                checks[name] = {"applied": len(applied), "pass": passed, "pass_rate": pass_rate(passed, len(applied))}
        out[split] = {"cases": len(rows), "pass": n[PASS], "fail": n[FAIL], "uncertain": n[UNCERTAIN],
                      "pass_rate": pass_rate(n[PASS], len(rows)), "checks": checks}
    return out


def _why(check: CheckResult) -> str:
    """One line saying why a helpfulness check did not pass."""
    ev = check.evidence or []
    if check.name == "key_points":
        missing = [e for e in ev if e.get("status") != "present"]
        return "; ".join(f"{e['status']}: {e['point'][0]!r}" + (f" (best cosine {e['cosine']})" if "cosine" in e else "")
                         for e in missing)[:400]
    if check.name == "lead":
        return "lead: " + " | ".join(ev[0].get("lead", []) if ev else [])[:400]
    if check.name == "no_repeat":
        return "; ".join(f"{e['sentence']!r} repeats {e['repeats']!r}" for e in ev)[:400]
    return "; ".join(str(e.get("detail") or e.get("span") or "") for e in ev if e.get("detail") or e.get("span"))[:400]


def helpfulness_failures(cases: list[CaseResult]) -> list[dict]:
    """Each helpfulness check that did not pass: which case, which split, why."""
    return [{"id": r.id, "split": r.split, "check": c.name, "verdict": c.verdict, "why": _why(c)}
            for r in cases for c in r.checks if c.name in HELPFULNESS_CHECKS and c.verdict != PASS]


def check_rows(cases: list[CaseResult]) -> dict[str, dict]:
    """Per check: how many cases it applied to, and its verdicts."""
    checks: dict[str, dict] = {}
    for name in CHECK_ORDER + tuple(sorted({c.name for r in cases for c in r.checks} - set(CHECK_ORDER))):
        applied = [c for r in cases for c in r.checks if c.name == name]
        if not applied:
            continue
        n = {v: sum(c.verdict == v for c in applied) for v in (PASS, FAIL, UNCERTAIN)}
        checks[name] = {"applied": len(applied), "pass": n[PASS], "fail": n[FAIL], "uncertain": n[UNCERTAIN],
                        "pass_rate": pass_rate(n[PASS], len(applied))}
    return checks


def retrieval_summary(cases: list[CaseResult], k: int) -> dict | None:
    retrieval = None
    rows = [c for r in cases for c in r.checks if c.name == "retrieval" and c.detail]
    if rows:
        retrieval = {
            "k": k,
            "cases": len(rows),
            "recall_at_k": round(sum(c.verdict == PASS for c in rows) / len(rows), 4),
            "section_recall_at_k": round(sum(c.detail["recall_at_k"] for c in rows) / len(rows), 4),
            "mrr": round(sum(c.detail["mrr"] for c in rows) / len(rows), 4),
            "mean_retrieved": round(sum(c.detail["k"] for c in rows) / len(rows), 2),
        }

    return retrieval


def threshold_rows(required_by_key: dict, checks: dict[str, dict], retrieval: dict | None, k: int) -> dict[str, dict]:
    """Each dataset threshold with the figure it gates and its status; each check row gets its threshold."""
    thresholds: dict[str, dict] = {}
    for key, required in required_by_key.items():
        value, source = None, None
        if key in _THRESHOLD_CHECK:
            source = _THRESHOLD_CHECK[key]
            value = checks.get(source, {}).get("pass_rate")
        else:
            m = re.match(r"^(recall_at_|hit_rate_at_)(\d+)$", key)
            if retrieval and m and int(m.group(2)) == k:
                source, value = "retrieval", retrieval["recall_at_k"]
            elif retrieval and re.match(r"^(mrr(_at_\d+)?|retrieval_mrr)$", key):
                source, value = "retrieval", retrieval["mrr"]
        status = "n/a" if value is None else ("ok" if value >= required - 1e-9 else "failed")
        thresholds[key] = {"threshold": required, "value": value, "check": source, "status": status}
    for name, row in checks.items():
        key = next((t for t, c in _THRESHOLD_CHECK.items() if c == name and t in thresholds), None)
        if key is None and name == "retrieval":   # retrieval sets gate recall_at_K on this check
            key = next((t for t, v in thresholds.items() if v["check"] == "retrieval" and t.startswith(("recall", "hit"))), None)
        row["threshold"] = thresholds[key]["threshold"] if key else None
        row["status"] = thresholds[key]["status"] if key else "no threshold"

    return thresholds


def tag_summary(cases: list[CaseResult]) -> dict[str, dict]:
    """Per tag: its cases' verdicts, and each check's pass rate among them."""
    tags: dict[str, dict] = {}
    for r in cases:
        for tag in r.tags or ["(untagged)"]:
            t = tags.setdefault(tag, {"cases": 0, "pass": 0, "fail": 0, "uncertain": 0})
            t["cases"] += 1
            t[r.verdict] += 1
    for t in tags.values():
        t["pass_rate"] = pass_rate(t["pass"], t["cases"])
        t["checks"] = {}
    for r in cases:
        for tag in r.tags or ["(untagged)"]:
            for c in r.checks:
                row = tags[tag]["checks"].setdefault(c.name, {"applied": 0, "pass": 0})
                row["applied"] += 1
                row["pass"] += c.verdict == PASS
    for t in tags.values():
        for row in t["checks"].values():
            row["pass_rate"] = pass_rate(row["pass"], row["applied"])

    return tags
