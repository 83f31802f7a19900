"""The `aq-coach` command line. Each verb's docstring is its help text.

Every verb takes --json for scripts; without it, people get tables and progress bars. Errors are
one clear line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .config import Settings, get_settings

app = typer.Typer(
    help="AQ Coach: a sprint-coaching assistant grounded in AQ's speed-training articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


class UsageProblem(Exception):
    """Bad input from the user: exit code 2."""


def _emit_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def friendly_errors(func):
    """Turn known failures into one line for people (or {"error": ...} with --json)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .corpus import CorpusError
        from .embeddings import BackendMissing
        from .store import StoreError

        as_json = kwargs.get("as_json", False)
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except UsageProblem as exc:
            _report_error(str(exc), as_json)
            raise typer.Exit(2) from None
        except (StoreError, CorpusError, BackendMissing, ValueError, OSError) as exc:
            _report_error(str(exc), as_json)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            _report_error("interrupted", as_json)
            raise typer.Exit(130) from None

    return wrapper


def _report_error(message: str, as_json: bool) -> None:
    if as_json:
        _emit_json({"error": message})
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)


def _settings(**overrides) -> Settings:
    try:
        return get_settings(**overrides)
    except Exception as exc:  # pydantic ValidationError: a bad AQ_* value
        raise UsageProblem(f"invalid settings: {exc}") from None


JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")


# --- corpus ------------------------------------------------------------------------------------

@app.command("import")
@friendly_errors
def import_cmd(
    paths: list[Path] = typer.Argument(..., help="Raw article files (.txt, .md or .html)."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Corpus folder to write to (default: settings)."),
    as_json: bool = JSON_OPT,
):
    """Repair and import raw AQ articles into clean Markdown in the corpus folder."""
    from .indexing import import_paths

    settings = _settings()
    results, errors = import_paths(paths, corpus or settings.corpus_dir)
    if as_json:
        _emit_json({"imported": [r.as_dict() for r in results], "errors": errors})
    else:
        for r in results:
            out.print(f"[green]imported[/] {r.source} → {r.path} ({r.sections} sections, {r.faq} FAQ, {r.repairs} repairs)", highlight=False)
        for e in errors:
            err.print(f"[bold red]error:[/] {e}", highlight=False)
    if errors:
        raise typer.Exit(1)


@app.command()
@friendly_errors
def ingest(
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Corpus folder (default: settings)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Drop the index and build it from scratch."),
    wait: float = typer.Option(0.0, "--wait", help="Seconds to wait for another running ingest before giving up."),
    as_json: bool = JSON_OPT,
):
    """Chunk and embed the corpus into Chroma; unchanged chunks are skipped, removed ones deleted."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .indexing import ingest_corpus

    settings = _settings()
    if corpus is not None and not corpus.is_dir():
        raise UsageProblem(f"corpus folder {corpus} does not exist")
    waiting = lambda: err.print("another ingest is running; waiting for it…")  # noqa: E731
    if as_json:
        report = ingest_corpus(settings, corpus, rebuild=rebuild, wait_s=wait, on_wait=waiting)
    else:
        with Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err) as bar:
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
        _emit_json(data)
        return
    for w in report.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    table = Table(title=f"ingest ({report.chunks} chunks, {report.seconds:.1f} s)")
    for key in ("added", "updated", "skipped", "deleted"):
        table.add_column(key, justify="right")
    table.add_row(*(str(data[k]) for k in ("added", "updated", "skipped", "deleted")))
    out.print(table)


@app.command()
@friendly_errors
def search(
    query: str = typer.Argument(..., help="What to look for."),
    k: Optional[int] = typer.Option(None, "--k", min=1, max=50, help="How many chunks to return."),
    as_json: bool = JSON_OPT,
):
    """Hybrid search (BM25 + vectors) over the index; prints ranked chunks."""
    from .indexing import open_searcher

    if not query.strip():
        raise UsageProblem("the query is empty; give some words to search for")
    settings = _settings()
    query = query[: settings.max_question_chars]
    hits = open_searcher(settings).search(query, k)
    if as_json:
        _emit_json({"query": query, "results": [h.as_dict() for h in hits]})
        return
    table = Table(title=f"search: {query[:60]}", show_lines=True)
    for col in ("#", "score", "section", "excerpt"):
        table.add_column(col)
    for n, h in enumerate(hits, 1):
        section = h.section + (f"\n[dim]{h.question}[/]" if h.question else "")
        table.add_row(str(n), f"{h.score:.4f}", section, h.excerpt)
    out.print(table)


@app.command()
@friendly_errors
def status(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing; exit 0 only when the index can answer."),
    as_json: bool = JSON_OPT,
):
    """Show whether the index exists, is complete, and how many chunks it holds."""
    from .store import StoreError, index_status

    settings = _settings()
    try:
        st = index_status(settings)
    except StoreError as exc:
        if quiet:
            raise typer.Exit(1) from None
        raise
    data = {"state": st.state, "version": st.version, "chunks": st.count, "ready": st.ready, "problem": st.problem(),
            "store": f"{settings.chroma_host}:{settings.chroma_port}" if settings.uses_chroma_server else str(settings.chroma_dir)}
    if quiet:
        raise typer.Exit(0 if st.ready else 1)
    if as_json:
        _emit_json(data)
    else:
        colour = "green" if st.ready else "yellow"
        out.print(f"[{colour}]{st.state}[/]: {st.count} chunks in {data['store']}" + (f"\n{st.problem()}" if st.problem() else ""), highlight=False)
    if not st.ready:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
