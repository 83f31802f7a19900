"""The answering service's retrieve step: the passages an answer may use, searched for its question plan.

The doctrine's fixed queries (corpus/doctrine.yaml) add theirs to doctrine, training and feeling
questions; their hits are remembered per index version.
"""

from __future__ import annotations

from .config import Settings
from .doctrine import Doctrine
from .plan import QuestionPlan
from .retrieval import HybridSearcher, SearchHit


def support(hits: list[SearchHit], query_vector) -> float | None:
    """How well the passages found cover the question: the best cosine between the question's vector
    and their answer units' stored vectors (the measure the composer's not-covered floor,
    composer_gap_cosine, is set in). None when there is no vector to compare."""
    if query_vector is None:
        return None
    import numpy as np

    vectors = [u.vector for h in hits for u in (h.units or ()) if getattr(u, "vector", None) is not None]
    if not vectors:
        return None
    matrix = np.asarray(vectors, dtype=np.float32)
    q = np.asarray(query_vector, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0)
    return round(float(np.max(matrix @ q / np.where(norms == 0, 1.0, norms))), 4)


class PassageFinder:
    """Searches for the passages of one question plan. The searcher is passed on every call, not
    kept: the evals swap the service's searcher for one that records what was retrieved."""

    def __init__(self, settings: Settings, doctrine: Doctrine) -> None:
        self.settings = settings
        self.doctrine = doctrine
        self._fixed: dict[tuple, list[SearchHit]] = {}

    def for_plan(self, searcher: HybridSearcher, plan: QuestionPlan) -> tuple[list[SearchHit], list[SearchHit]]:
        """The passages an answer may use (the top k, and the extras), and further candidates.

        The athlete's question first; doctrine and training questions also pull in the passages
        AQ wrote for exactly that (the FAQ on cause, the speed-training section). The composer ranks
        units from composer_k chunks: more choice costs it little, while an LLM reads every line."""
        k = self.settings.k
        queries = self.doctrine.queries
        doctrine_q, training_q = queries.get("doctrine"), queries.get("training")
        if plan.intent == "injection" and doctrine_q:
            return searcher.search(doctrine_q, k), []
        wide = searcher.search(plan.standalone, max(k, self.settings.composer_k))
        hits = wide[:k]
        extras = {"doctrine": [doctrine_q], "training": [training_q]}.get(plan.intent, [])
        if plan.kind in ("signs", "why_feel", "contrast") and plan.stance:
            # what may be happening underneath the feeling, on the side asked
            extras.append(queries.get("feel_bad" if plan.stance == "disrupted" else "feel_good"))
        if (plan.wants_training or plan.kind == "about_aq") and training_q not in extras:
            extras.append(training_q)  # "will improving my coordination make me faster?" is about training too
        for part in plan.parts:  # each part of a two-part question finds its own passages
            seen = {h.id for h in hits}
            hits += [h for h in searcher.search(part.standalone, 2) if h.id not in seen]
        for extra in filter(None, extras):
            seen = {h.id for h in hits}
            hits += [h for h in self.fixed(searcher, extra, 2) if h.id not in seen]
        seen = {h.id for h in hits}
        return hits, [h for h in wide[k:] if h.id not in seen]

    def fixed(self, searcher: HybridSearcher, query: str, k: int) -> list[SearchHit]:
        """Search for one of the service's own fixed queries, remembered per index version: the
        same query embedded on every doctrine question would double its retrieval time."""
        key = (query, k, getattr(searcher, "version", None))
        if key[2] is None or key not in self._fixed:
            hits = searcher.search(query, k)
            key = (query, k, getattr(searcher, "version", None))
            if key[2] is not None:
                self._fixed = {key: hits, **{k_: v for k_, v in self._fixed.items() if k_[2] == key[2]}}
            return hits
        return self._fixed[key]
