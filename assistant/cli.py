"""The `aq-coach` command line. Each verb's docstring is its help text.

Every verb takes --json for scripts; without it, people get tables and progress bars. Errors are
one clear line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # pydantic-settings is imported by the verbs that read settings, not by --help
    from .config import Settings

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
        as_json = kwargs.get("as_json", False)
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except UsageProblem as exc:
            _report_error(str(exc), as_json)
            raise typer.Exit(2) from None
        except Exception as exc:
            if not isinstance(exc, _known_errors()):
                raise
            _report_error(str(exc), as_json)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            _report_error("interrupted", as_json)
            raise typer.Exit(130) from None

    return wrapper


def _known_errors() -> tuple[type[BaseException], ...]:
    """The failures told as one line: StoreError, CorpusError, DatabaseError and BackendMissing, from
    the modules the verb imported (a module not imported raised none of its errors, and importing it
    here would cost every verb SQLAlchemy's and LangChain's import time), ValueError and OSError."""
    where = (("store", "StoreError"), ("corpus", "CorpusError"), ("database", "DatabaseError"),
             ("embeddings", "BackendMissing"))
    found = [getattr(sys.modules[f"{__package__}.{module}"], name, None) for module, name in where
             if f"{__package__}.{module}" in sys.modules]
    return (*(cls for cls in found if isinstance(cls, type)), ValueError, OSError)


def _report_error(message: str, as_json: bool) -> None:
    if as_json:
        _emit_json({"error": message})
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)


def _settings(**overrides) -> Settings:
    from .config import get_settings

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
    corpus: Path | None = typer.Option(None, "--corpus", help="Corpus folder to write to (default: settings)."),
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
            out.print(f"[green]imported[/] {r.source} → {r.path} ({r.sections} sections, {r.faq} FAQ, {r.repairs} repairs, "
                      f"{r.ambiguous} ambiguous, {r.residue} residue)", highlight=False)
            for line in r.ambiguous_lines:
                out.print(f"  [yellow]ambiguous mark dropped[/] (✅ or ❌ could not be told apart): {line}", highlight=False)
        for e in errors:
            err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)  # one line, never wrapped
    if errors:
        raise typer.Exit(1)


@app.command()
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

    settings = _settings()
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
    k: int | None = typer.Option(None, "--k", min=1, max=50, help="How many chunks to return."),
    as_json: bool = JSON_OPT,
):
    """Hybrid search (BM25 + vectors) over the index; prints ranked chunks."""
    from .indexing import open_searcher

    if not query.strip():
        raise UsageProblem("the query is empty; give some words to search for")
    settings = _settings()
    # An undecodable byte on the command line arrives as a lone surrogate: show it as U+FFFD.
    query = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in query)[: settings.max_question_chars]
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


# --- answering ---------------------------------------------------------------------------------

BACKEND_OPT = typer.Option(None, "--backend", help="composer (offline default), llamacpp or openai.")


def _read_history(path: Path | None) -> list[dict]:
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem(f"history file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"history file {path} is not valid JSON: {exc}") from None
    from .text import history_messages

    try:
        return history_messages(data, f"history file {path}")
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


def _service(backend: str | None):
    from .answering import AnsweringService
    from .backends import BACKENDS

    if backend and backend not in BACKENDS:
        raise UsageProblem(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    settings = _settings(backend=backend)
    return AnsweringService.from_settings(settings)


def _print_answer(answer, streamed: str = "") -> None:
    from rich.markdown import Markdown

    if not streamed:
        out.print(Markdown(answer.text))
    elif streamed.strip() != answer.text.strip():
        # what streamed was cut short by the guard: the answer that replaces it
        out.print(f"\n[yellow]The guard stopped that answer ({answer.guard.action}); instead:[/]", highlight=False)
        out.print(Markdown(answer.text))
    else:
        out.print()
    for notice in answer.notices:
        out.print(f"[yellow]note:[/] {notice}", highlight=False)
    if answer.sources:
        out.print("[dim]Sources:[/]")
        for n, src in enumerate(answer.sources, 1):
            label = src.section + (f" — {src.question}" if src.question else "")
            out.print(f"[dim]  [{n}] {label}[/]", highlight=False)


@app.command()
@friendly_errors
def ask(
    question: str = typer.Argument(..., help="The athlete's question."),
    history: Path | None = typer.Option(None, "--history", help='JSON list of {"role", "content"} messages (OpenAI chat format).'),
    backend: str | None = BACKEND_OPT,
    as_json: bool = JSON_OPT,
):
    """Answer one question, grounded in AQ's articles, with sources. An LLM's answer prints as it is written."""
    from .answering import EmptyQuestion

    if not question.strip():
        raise UsageProblem("the question is empty; ask something about sprinting")
    messages = _read_history(history)
    service = _service(backend)
    try:
        answer, streamed = _answer(service, question, messages, live=not as_json)
    except EmptyQuestion as exc:
        raise UsageProblem(str(exc)) from None
    if as_json:
        data = answer.as_dict()
        _emit_json({"answer": data["answer"], "sources": data["sources"], "backend": data["backend"], "guard": data["guard"],
                    "notices": data["notices"], "timings": data["timings"], "question": data["question"]})
    else:
        _print_answer(answer, streamed)


def _answer(service, question: str, history: list[dict], live: bool):
    """The answer, and what was printed of it as it streamed (an LLM backend's sentences, each
    released by the guard); the composer's answer is printed whole, as Markdown."""
    from .answering import Answer, with_text_so_far

    live = live and service.answerer(service.settings.backend).streams
    for streamed, item in with_text_so_far(service.stream(question, history)):
        if isinstance(item, Answer):
            return item, streamed if live else ""
        if live:
            out.file.write(item.text)
            out.file.flush()
    raise RuntimeError("the answer stream ended without an answer")


@app.command()
@friendly_errors
def chat(backend: str | None = BACKEND_OPT, as_json: bool = JSON_OPT):
    """Chat in the terminal; the conversation is remembered. Type /new to start over, /quit to leave."""
    from .answering import EmptyQuestion

    service = _service(backend)
    history: list[dict] = []
    if not as_json:
        out.print("[bold]AQ Coach[/] — ask about sprinting. /new starts over, /quit leaves.")
    for line in sys.stdin if as_json else iter(lambda: _prompt(), None):
        question = line.strip()
        if question in ("/quit", "/exit", "quit", "exit"):
            break
        if question == "/new":
            history = []
            continue
        if not question:
            continue
        try:
            answer, streamed = _answer(service, question, history, live=not as_json)
        except EmptyQuestion:
            continue
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
        if as_json:
            sys.stdout.write(json.dumps({"question": question, **answer.as_dict()}, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            _print_answer(answer, streamed)


def _prompt() -> str | None:
    try:
        return out.input("[bold cyan]you>[/] ")
    except EOFError:
        return None


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
    except StoreError:
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


@app.command("settings")
@friendly_errors
def settings_(
    markdown: bool = typer.Option(False, "--markdown", help="Print the README's table of every setting and its default."),
    as_json: bool = JSON_OPT,
):
    """Show every setting in effect (from AQ_* variables and .env) and where it differs from its default.

    Secrets are never printed. `--markdown` writes the README's settings table from the same fields."""
    from pydantic import SecretStr

    from .config import Settings, env_name, settings_markdown

    if markdown:
        sys.stdout.write(settings_markdown())
        return
    settings = _settings()
    rows = []
    for name, field in Settings.model_fields.items():
        value, default = getattr(settings, name), field.get_default(call_default_factory=True)
        shown = "(set)" if isinstance(value, SecretStr) else value
        rows.append({"variable": env_name(name), "value": None if shown is None else str(shown),
                     "changed": value != default})
    if as_json:
        _emit_json({"settings": rows})
        return
    table = Table(title="aq-coach settings")
    for col in ("variable", "value"):
        table.add_column(col)
    for row in rows:
        style = "bold" if row["changed"] else "dim"
        table.add_row(row["variable"], "unset" if row["value"] is None else row["value"], style=style)
    out.print(table)
    out.print(f"{sum(r['changed'] for r in rows)} of {len(rows)} differ from their defaults (bold).", highlight=False)


# --- web UI, feedback, evals, bench: thin wrappers over their modules --------------------------------

@app.command()
@friendly_errors
def serve(
    host: str | None = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Port (default 7860)."),
    backend: str | None = BACKEND_OPT,
    as_json: bool = JSON_OPT,
):
    """Serve the athletes' web chat (Gradio) on http://127.0.0.1:7860 by default.

    The index and models (embeddings, and the local LLM when it is the backend) are loaded before
    the server says it is ready, so the first athletes don't wait for them."""
    import gc

    from .embeddings import preload_question_encoder

    # Starting makes ~600k objects (gradio, Chroma, the index) and almost no garbage (about 4,000
    # unreachable objects): collecting while they are made costs 0.3-0.6 s of the start. ui.serve
    # freezes what was made and turns collection back on before it listens.
    gc.disable()
    settings = _settings(host=host, port=port, backend=backend)
    preload_question_encoder(settings)  # loads while gradio imports
    from .ui import create_app, parse_auth
    from .ui import serve as serve_app

    parse_auth(settings.auth)  # a malformed AQ_AUTH fails before the slow start
    if not as_json:
        err.print("loading the index and models…", highlight=False)
    demo = create_app(settings)
    if as_json:
        _emit_json({"url": f"http://{settings.host}:{settings.port}", "backend": settings.backend, "ready": True})
    else:
        out.print(f"AQ Coach is serving on [bold]http://{settings.host}:{settings.port}[/] (Ctrl-C stops it)")
    serve_app(demo, settings)


db_app = typer.Typer(help="The database of chat history, feedback and ingest records (AQ_DATABASE_URL).",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@friendly_errors
def db_upgrade(as_json: bool = JSON_OPT):
    """Create the history and feedback schema, or upgrade an older one in place; nothing stored is lost.

    A SQLite file is copied to <file>.bak-v<old version> first."""
    import shutil

    from sqlalchemy.exc import OperationalError

    from .database import SCHEMA_VERSION, DatabaseError, engine_for, schema_version, upgrade

    settings = _settings()
    url = settings.app_database_url
    if not settings.database_url:
        settings.app_db.parent.mkdir(parents=True, exist_ok=True)
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            old = schema_version(conn)
        backup = None
        if not settings.database_url and settings.app_db.exists() and 0 < old < SCHEMA_VERSION:
            backup = settings.app_db.with_name(f"{settings.app_db.name}.bak-v{old}")
            shutil.copy2(settings.app_db, backup)
        report = upgrade(engine)
    except OperationalError as exc:
        raise DatabaseError(f"cannot open the database {engine.url.render_as_string(hide_password=True)}: {exc.orig}") from None
    data = {**report.as_dict(), "backup": str(backup) if backup else None}
    if as_json:
        _emit_json(data)
        return
    if not report.steps:
        out.print(f"{report.url}: schema {report.after}, up to date")
    for step in report.steps:
        out.print(f"{report.url}: {step}")
    if backup:
        out.print(f"the old file was copied to {backup}")


plan_app = typer.Typer(help="The question plan's model, trained on labelled athlete questions (evals/datasets/plan).",
                       no_args_is_help=True)
app.add_typer(plan_app, name="plan")
PLAN_SET_OPT = typer.Option(None, "--dataset", help="Labelled question set (a YAML file or a folder); default AQ_PLAN_DATASET.")


@plan_app.command("train")
@friendly_errors
def plan_train(dataset: Path | None = PLAN_SET_OPT,
               if_missing: bool = typer.Option(False, "--if-missing", help="Keep a model already trained on this set."),
               as_json: bool = JSON_OPT):
    """Train the plan model on the labelled set's tune split and cache it by the set's digest."""
    from .evals.plan_eval import planner_for
    from .plan_model import load_plan_set

    settings = _settings(**({"plan_dataset": dataset} if dataset else {}))
    if not as_json:
        err.print(f"plan model for {settings.plan_dataset} …", highlight=False)
    planner, seconds = planner_for(settings, retrain=not if_missing)
    examples = load_plan_set(settings.plan_dataset)
    data = {"digest": planner.model.digest, "seconds": round(seconds, 1),
            "tune_questions": sum(e.split == "tune" for e in examples),
            "heldout_questions": sum(e.split == "heldout" for e in examples)}
    if as_json:
        _emit_json(data)
    else:
        out.print(f"plan model {data['digest']}: trained on {data['tune_questions']} questions in {data['seconds']} s "
                  f"({data['heldout_questions']} held out)")


@plan_app.command("eval")
@friendly_errors
def plan_eval(dataset: Path | None = PLAN_SET_OPT,
              report: Path = typer.Option(Path("reports/plan"), "--report", help="Folder for plan_report.json and .html."),
              as_json: bool = JSON_OPT):
    """Per-field accuracy of the question plan, tune and held-out, with a confusion matrix of kinds.

    Exit 1 when a held-out figure is under its threshold."""
    from .evals.plan_eval import THRESHOLDS, evaluate, planner_for, write_report
    from .plan_model import load_plan_set

    settings = _settings(**({"plan_dataset": dataset} if dataset else {}))
    planner, _ = planner_for(settings)
    examples = load_plan_set(settings.plan_dataset)
    if not as_json:
        err.print(f"planning {len(examples)} labelled questions …", highlight=False)
    result = evaluate(planner, examples)
    paths = write_report(result, report)
    if as_json:
        _emit_json({"ok": result.ok, "figures": result.figures, "reports": [str(p) for p in paths]})
    else:
        table = Table("field", "tune", "held-out", "threshold")
        for name in ("kind", "shape", "stance", "follows", "follow_up_resolution"):
            table.add_row(name, str(result.figures["tune"][name]), str(result.figures["heldout"][name]),
                          str(THRESHOLDS.get(name, "")))
        out.print(table)
        out.print(f"{'passed' if result.ok else 'FAILED'}; reports: {paths[0]}  {paths[1]}", highlight=False)
    raise typer.Exit(0 if result.ok else 1)


feedback_app = typer.Typer(help="Athletes' feedback on answers (in the app database).", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
@friendly_errors
def feedback_export(as_json: bool = JSON_OPT):
    """Print every thumbs-up/down with its question, answer, sources, backend and comment."""
    from .conversations import ConversationStore

    settings = _settings()
    rows = ConversationStore(settings.app_database_url).export_feedback()
    if as_json:
        _emit_json({"feedback": rows})
        return
    table = Table(title=f"feedback ({len(rows)})", show_lines=True)
    for col in ("when", "rating", "question", "answer", "comment", "backend"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r.get("created_at", "")), "👍" if r.get("rating", 0) > 0 else "👎", str(r.get("question", ""))[:80],
                      str(r.get("answer", ""))[:120], str(r.get("comment") or ""), str(r.get("backend", "")))
    out.print(table)


@app.command("eval")
@friendly_errors
def eval_cmd(
    dataset: Path | None = typer.Option(None, "--dataset", help="Dataset file (YAML or JSONL); default evals/datasets/answers.yaml."),
    backend: str | None = BACKEND_OPT,
    answers: Path | None = typer.Option(None, "--answers", help="Score pre-recorded answers (JSONL) instead of running the assistant."),
    baseline: Path | None = typer.Option(None, "--baseline", help="An earlier report.json: list per-case regressions."),
    report: Path = typer.Option(Path("reports/latest"), "--report", help="Folder for report.json and report.html."),
    as_json: bool = JSON_OPT,
):
    """Run the answer eval suite (framing, terms, grounding, scope, retrieval); exit 1 when a threshold fails."""
    from .evals.cli import run_eval_command

    code = run_eval_command(dataset=dataset, backend=backend, answers=answers, baseline=baseline,
                            report_dir=report, as_json=as_json, console=out, err_console=err)
    raise typer.Exit(code)


@app.command()
@friendly_errors
def bench(
    quick: bool = typer.Option(False, "--quick", help="Smaller synthetic corpus; finishes in under a minute."),
    load_rounds: int | None = typer.Option(None, "--load-rounds", min=1, max=50,
                                    help="API load rounds per endpoint (default 40, about 20 minutes; 1 with --quick). One round's share "
                                         "swings ±25% on 2 cores; the report gives a 90% interval over the rounds, "
                                         "and more rounds narrow it."),
    as_json: bool = JSON_OPT,
):
    """Measure embedding, retrieval, answering, ingest and UI figures on this machine."""
    from .bench import run_bench

    figures = run_bench(_settings(), quick=quick, console=None if as_json else err, load_rounds=load_rounds)
    if as_json:
        _emit_json({"figures": figures})
        return
    table = Table(title="aq-coach bench")
    for col in ("name", "p50_ms", "p95_ms", "value", "unit"):
        table.add_column(col, justify="right" if col != "name" else "left")
    def cell(value) -> str:
        return "" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)

    for f in figures:
        table.add_row(f["name"], *(cell(f.get(k)) for k in ("p50_ms", "p95_ms", "value")), str(f.get("unit", "")))
    out.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
