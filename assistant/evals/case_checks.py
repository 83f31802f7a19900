"""Which checks apply to one case, and their verdicts on its answer: the deterministic judges, the
optional LLM judge and the helpfulness judges, in report order (framing applies to every answer)."""

from __future__ import annotations

from ..guard import FramingJudge
from . import helpfulness, judges, retrieval_judge, terms_judge
from .datasets import Case, Source
from .judges import CheckResult


def judge_case(case: Case, answer: str, *, framing: FramingJudge, sources: list[Source] | None, hits: list[Source] | None,
               k: int, trace: list[dict] | None = None, service_scope: str = "", llm_judge=None, embeddings=None) -> list[CheckResult]:
    """Every check that applies to this case; framing (the corpus's judge) applies to every answer."""
    checks = [judges.judge_framing_check(answer, framing, trace)]
    if case.terms_any or case.terms_all:
        checks.append(terms_judge.judge_terms(answer, case.terms_any, case.terms_all))
    if not case.expects_refusal and case.kind != "greeting":  # a greeting's reply cites nothing, by design
        checks.append(judges.judge_grounding(answer, sources, embeddings=embeddings, trace=trace))
    if case.covered is not False:  # an uncovered topic is judged by honest_gap: admitting it is right there
        checks.append(judges.judge_scope(answer, case.expects_refusal, service_scope or None))
    if case.gold_sections and not case.expects_refusal:
        checks.append(retrieval_judge.judge_retrieval(case.gold_sections, hits, k))
    if case.forbidden:
        checks.append(judges.judge_forbidden(answer, case.forbidden, trace))
    if llm_judge is not None:
        checks.append(llm_judge.judge(case.question, answer, sources, case.expects_refusal))
    checks += helpfulness_checks(case, answer, embeddings)
    return checks


def helpfulness_checks(case: Case, answer: str, embeddings=None) -> list[CheckResult]:
    """no_repeat and length on every in-scope case; key_points, lead, honest_gap where the case has the fields."""
    if case.expects_refusal:
        return []
    checks = []
    if case.key_points:
        checks.append(helpfulness.judge_key_points(answer, case.key_points, embeddings))
    if case.lead_any or case.kind or case.covered is False:
        checks.append(helpfulness.judge_lead(answer, case.question, case.lead_any, case.kind, case.covered,
                                             case.lead_terms))
    if case.covered is True:
        checks.append(helpfulness.judge_false_gap(answer))
    checks.append(helpfulness.judge_no_repeat(answer))
    gap = helpfulness.judge_honest_gap(answer, case.covered)
    if gap is not None:
        checks.append(gap)
    checks.append(helpfulness.judge_length(answer))
    return checks
