"""The indexing service: corpus → chunks → embeddings → store, and the searcher over it.

The CLI, the UI and the evals call these functions; they never touch Chroma directly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .corpus import CorpusError, Glossary, load_corpus, load_glossary, related_articles
from .doctrine import DOCTRINE_FILE, PROJECT_DOCTRINE, Doctrine
from .doctrine import load as load_doctrine

if TYPE_CHECKING:  # imported where used: `aq-coach import` needs none of them (Chroma, LangChain, ONNX Runtime)
    from .chunking import Chunk
    from .guard import FramingJudge
    from .importer import ImportResult
    from .retrieval import HybridSearcher
    from .store import IngestReport



def import_paths(paths: list[Path], corpus_dir: Path, doctrine: Doctrine) -> tuple[list[ImportResult], list[str]]:
    """Import each raw article (the doctrine names its navigation headings); returns results and error messages (one per failed file)."""
    from .importer import ImportError_, import_article

    results, errors = [], []
    for path in paths:
        try:
            results.append(import_article(path, corpus_dir, doctrine))
        except ImportError_ as exc:
            errors.append(str(exc))
    return results, errors


def corpus_chunks(settings: Settings, corpus_dir: Path | None = None) -> tuple[list[Chunk], list[str]]:
    from .chunking import chunk_corpus

    folder = Path(corpus_dir or settings.corpus_dir)
    articles, warnings = load_corpus(folder)
    doctrine = doctrine_for(settings, folder)
    if not (folder / DOCTRINE_FILE).exists():
        warnings = [*warnings, f"{folder} has no {DOCTRINE_FILE}: its answer units follow AQ's ({PROJECT_DOCTRINE})"]
    judge = framing_judge_for(settings, folder)
    return chunk_corpus(articles, settings.chunk_size, settings.chunk_overlap, doctrine, judge), warnings


def stored_unit_vectors(settings: Settings) -> dict[str, tuple]:
    """The vectors of the answer units already in the store, by the text they were embedded from."""
    from .store import StoreError, stored_chunks
    from .units import load_units

    try:
        _, _, metadatas = stored_chunks(settings)
    except StoreError:  # the store cannot be read: embed everything
        return {}
    return {u.match_text: u.vector for m in metadatas if m and m.get("units")
            for u in load_units(str(m["units"])) if u.vector is not None}


def embed_units(chunks: list[Chunk], embeddings, known: dict | None = None) -> list[Chunk]:
    """Each chunk with its answer units' embeddings, so the composer never embeds at question time.
    Units already stored (`known`) keep their vectors: an unchanged corpus embeds nothing again."""
    from dataclasses import replace

    from .units import with_vectors

    known = known or {}
    texts = [u.match_text for c in chunks for u in c.units]
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    # One call: the embedder sorts them by length and batches them itself (MiniLM: batch_size at a
    # time), so short units pad less than in batches cut in the order they come.
    fresh = dict(zip(missing, embeddings.embed_documents(missing))) if missing else {}
    vectors = [known.get(t) if t in known else fresh[t] for t in texts]
    out, pos = [], 0
    for c in chunks:
        out.append(replace(c, units=with_vectors(c.units, vectors[pos:pos + len(c.units)])))
        pos += len(c.units)
    return out


def ingest_corpus(
    settings: Settings,
    corpus_dir: Path | None = None,
    *,
    rebuild: bool = False,
    embeddings=None,
    on_chunks: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    wait_s: float = 0.0,
    on_wait: Callable[[], None] | None = None,
) -> IngestReport:
    from .embeddings import make_embeddings
    from .store import ingest

    chunks, warnings = corpus_chunks(settings, corpus_dir)
    if on_chunks:
        on_chunks(len(chunks))
    embeddings = embeddings or make_embeddings(settings)
    return ingest(
        settings,
        chunks,
        embeddings,
        rebuild=rebuild,
        warnings=warnings,
        progress=progress,
        wait_s=wait_s,
        on_wait=on_wait,
        prepare=lambda found: embed_units(found, embeddings, stored_unit_vectors(settings)),
    )


def glossary_for(settings: Settings) -> Glossary:
    return load_glossary(settings.glossary_path)


def related_for(settings: Settings) -> list[tuple[str, str]]:
    """The AQ articles the corpus links to but does not hold: pointed to when a question is not covered."""
    try:
        articles, _ = load_corpus(Path(settings.corpus_dir))
    except CorpusError:
        return []
    return related_articles(articles)


def doctrine_for(settings: Settings, corpus_dir: Path | None = None) -> Doctrine:
    """The corpus folder's own doctrine.yaml. A folder without one is answered with AQ's (the project's
    corpus/doctrine.yaml, stated here and warned about at ingest): the doctrine is AQ's, not an article's."""
    own = Path(corpus_dir or settings.corpus_dir) / DOCTRINE_FILE
    return load_doctrine(own if own.exists() else PROJECT_DOCTRINE)


def framing_judge_for(settings: Settings, corpus_dir: Path | None = None) -> FramingJudge:
    """The framing judge for the corpus: its doctrine's subject, its glossary's terms."""
    from .guard import FramingJudge

    folder = Path(corpus_dir or settings.corpus_dir)
    glossary = load_glossary(folder / settings.glossary_file) if corpus_dir else glossary_for(settings)
    return FramingJudge(doctrine_for(settings, folder), glossary)


def open_searcher(settings: Settings, embeddings=None) -> HybridSearcher:
    from .embeddings import make_embeddings
    from .retrieval import HybridSearcher

    return HybridSearcher(settings, embeddings or make_embeddings(settings), glossary_for(settings))
