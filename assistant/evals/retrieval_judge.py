"""The retrieval judge: are a case's gold sections among the passages searched for it (recall@k, MRR)?"""

from __future__ import annotations

import re

from .datasets import Source
from .judges import FAIL, PASS, UNCERTAIN, CheckResult

_QUOTES = re.compile(r"[\"'“”‘’«»„`]")


def norm_section(text: str) -> str:
    """Case-insensitive, quotes removed, whitespace collapsed, trailing ?/. dropped."""
    text = _QUOTES.sub("", text or "").lower()
    return re.sub(r"\s+", " ", text).strip().rstrip("?.! ").strip()


FAQ_SECTION = "frequently asked questions"


def gold_matches(gold: str, source: Source) -> bool:
    """`FAQ: <question>` matches the FAQ chunk with that question; `Frequently Asked Questions` any FAQ chunk."""
    g = norm_section(gold)
    if g.startswith("faq:"):
        q = norm_section(g[4:])
        return bool(source.question) and norm_section(source.question) == q
    if g == FAQ_SECTION:
        return bool(source.question) or norm_section(source.section) == FAQ_SECTION
    return norm_section(source.section) == g


def retrieval_metrics(gold_sections: list[str], hits: list[Source], k: int) -> dict:
    golds = list(dict.fromkeys(gold_sections))
    top = hits[:k]
    found = [g for g in golds if any(gold_matches(g, h) for h in top)]
    rank = next((n for n, h in enumerate(hits, 1) if any(gold_matches(g, h) for g in golds)), None)
    return {
        "k": k,
        "recall": len(found) / len(golds) if golds else 0.0,
        "hit": bool(found),
        "mrr": 1.0 / rank if rank else 0.0,
        "first_rank": rank,
        "found": found,
        "missed": [g for g in golds if g not in found],
    }


def judge_retrieval(gold_sections: list[str], hits: list[Source] | None, k: int) -> CheckResult:
    """Recall@k and MRR of the gold sections; the check passes when a gold section is in the top k."""
    if hits is None:
        return CheckResult("retrieval", UNCERTAIN, None, [{"detail": "no retrieval results recorded"}])
    m = retrieval_metrics(gold_sections, hits, k)
    evidence = [{"rank": n, "chunk_id": h.id, "section": h.section, "question": h.question,
                 "gold": any(gold_matches(g, h) for g in gold_sections)} for n, h in enumerate(hits[:k], 1)]
    if m["missed"]:
        evidence.append({"missed": m["missed"]})
    return CheckResult("retrieval", PASS if m["hit"] else FAIL, m["recall"], evidence,
                       {"recall_at_k": round(m["recall"], 4), "mrr": round(m["mrr"], 4), "k": k, "first_rank": m["first_rank"]})
