"""The index verbs of `aq-coach`: import raw articles, ingest the corpus, search the index, and its status.

Each verb's docstring is its help text; `assistant.cli` registers them on the app.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from .cli_support import JSON_OPT, UsageProblem, emit_json, err, friendly_errors, load_settings, out


@friendly_errors
def import_cmd(
    paths: list[Path] = typer.Argument(..., help="Raw article files (.txt, .md or .html)."),
    corpus: Path | None = typer.Option(None, "--corpus", help="Corpus folder to write to (default: settings)."),
    as_json: bool = JSON_OPT,
):
    """Repair and import raw AQ articles into clean Markdown in the corpus folder."""
    from .indexing import doctrine_for, import_paths

    settings = load_settings()
    results, errors = import_paths(paths, corpus or settings.corpus_dir, doctrine_for(settings, corpus))
    if as_json:
        emit_json({"imported": [r.as_dict() for r in results], "errors": errors})
    else:
        for r in results:
            out.print(f"[green]imported[/] {r.source} → {r.path} ({r.sections} sections, {r.faq} FAQ, {r.repairs} repairs, "
                      f"{r.ambiguous} ambiguous, {r.residue} residue)", highlight=False)
            for line in r.ambiguous_lines:
                out.print(f"  [yellow]ambiguous mark dropped[/] (✅ or ❌ could not be told apart): {line}", highlight=False)
        for e in errors:
            err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)  # one line, never wrapped
    if errors:
        raise typer.Exit(1)


@friendly_errors
def ingest(
    corpus: Path | None = typer.Option(None, "--corpus", help="Corpus folder (default: settings)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Drop the index and build it from scratch."),
    wait: float = typer.Option(0.0, "--wait", help="Seconds to wait for another running ingest before giving up."),
    as_json: bool = JSON_OPT,
):
    """Chunk and embed the corpus into Chroma; unchanged chunks are skipped, removed ones deleted."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .indexing import ingest_corpus

    settings = load_settings()
    if corpus is not None and not corpus.is_dir():
        raise UsageProblem(f"corpus folder {corpus} does not exist")
    waiting = lambda: err.print("another ingest is running; waiting for it…")  # noqa: E731
    if as_json:
        report = ingest_corpus(settings, corpus, rebuild=rebuild, wait_s=wait, on_wait=waiting)
    else:
        with Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("ingest", total=None)
            report = ingest_corpus(
                settings,
                corpus,
                rebuild=rebuild,
                wait_s=wait,
                on_wait=waiting,
                on_chunks=lambda n: bar.update(task, total=n),
                progress=lambda n: bar.advance(task, n),
            )
    data = report.as_dict()
    if as_json:
        emit_json(data)
        return
    for w in report.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    table = Table(title=f"ingest ({report.chunks} chunks, {report.seconds:.1f} s)")
    for key in ("added", "updated", "skipped", "deleted"):
        table.add_column(key, justify="right")
    table.add_row(*(str(data[k]) for k in ("added", "updated", "skipped", "deleted")))
    out.print(table)


@friendly_errors
def search(
    query: str = typer.Argument(..., help="What to look for."),
    k: int | None = typer.Option(None, "--k", min=1, max=50, help="How many chunks to return."),
    as_json: bool = JSON_OPT,
):
    """Hybrid search (BM25 + vectors) over the index; prints ranked chunks."""
    from .indexing import open_searcher

    if not query.strip():
        raise UsageProblem("the query is empty; give some words to search for")
    settings = load_settings()
    # An undecodable byte on the command line arrives as a lone surrogate: show it as U+FFFD.
    query = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in query)[: settings.max_question_chars]
    hits = open_searcher(settings).search(query, k)
    if as_json:
        emit_json({"query": query, "results": [h.as_dict() for h in hits]})
        return
    table = Table(title=f"search: {query[:60]}", show_lines=True)
    for col in ("#", "score", "section", "excerpt"):
        table.add_column(col)
    for n, h in enumerate(hits, 1):
        section = h.section + (f"\n[dim]{h.question}[/]" if h.question else "")
        table.add_row(str(n), f"{h.score:.4f}", section, h.excerpt)
    out.print(table)


@friendly_errors
def status(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing; exit 0 only when the index can answer."),
    as_json: bool = JSON_OPT,
):
    """Show whether the index exists, is complete, and how many chunks it holds."""
    from .store import StoreError, index_status

    settings = load_settings()
    try:
        st = index_status(settings)
    except StoreError:
        if quiet:
            raise typer.Exit(1) from None
        raise
    data = {"state": st.state, "version": st.version, "chunks": st.count, "ready": st.ready, "problem": st.problem(),
            "store": f"{settings.chroma_host}:{settings.chroma_port}" if settings.uses_chroma_server else str(settings.chroma_dir)}
    if quiet:
        raise typer.Exit(0 if st.ready else 1)
    if as_json:
        emit_json(data)
    else:
        colour = "green" if st.ready else "yellow"
        out.print(f"[{colour}]{st.state}[/]: {st.count} chunks in {data['store']}" + (f"\n{st.problem()}" if st.problem() else ""), highlight=False)
    if not st.ready:
        raise typer.Exit(1)
