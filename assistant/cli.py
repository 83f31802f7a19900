"""The `aq-coach` command line: the app, its answering verbs (ask, chat, serve), and every verb
registered in the order `aq-coach --help` lists them. Each verb's docstring is its help text.

Every verb takes --json for scripts; without it, people get tables and progress bars. Errors are
one clear line on stderr and a non-zero exit code, never a traceback (assistant.cli_support).
The other verbs live by audience: cli_index.py (import, ingest, search, status) and
cli_maintainers.py (settings, eval, bench, insights, and the db, plan and feedback groups).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from . import cli_index, cli_maintainers
from .cli_support import BACKEND_OPT, JSON_OPT, UsageProblem, emit_json, err, friendly_errors, load_settings, out

app = typer.Typer(
    help="AQ Coach: a sprint-coaching assistant grounded in AQ's speed-training articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# --- answering: ask, chat, serve -----------------------------------------------------------------

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
    settings = load_settings(backend=backend)
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
        emit_json({"answer": data["answer"], "sources": data["sources"], "backend": data["backend"], "guard": data["guard"],
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
    settings = load_settings(host=host, port=port, backend=backend)
    preload_question_encoder(settings)  # loads while gradio imports
    from .ui import create_app, parse_auth
    from .ui import serve as serve_app

    parse_auth(settings.auth)  # a malformed AQ_AUTH fails before the slow start
    if not as_json:
        err.print("loading the index and models…", highlight=False)
    demo = create_app(settings)
    if as_json:
        emit_json({"url": f"http://{settings.host}:{settings.port}", "backend": settings.backend, "ready": True})
    else:
        out.print(f"AQ Coach is serving on [bold]http://{settings.host}:{settings.port}[/] (Ctrl-C stops it)")
    serve_app(demo, settings)


# --- every verb, in the order `aq-coach --help` lists them (commands first, then the groups) ------

app.command("import")(cli_index.import_cmd)
app.command()(cli_index.ingest)
app.command()(cli_index.search)
app.command()(ask)
app.command()(chat)
app.command()(cli_index.status)
app.command("settings")(cli_maintainers.settings_)
app.command()(serve)
app.command("eval")(cli_maintainers.eval_cmd)
app.command()(cli_maintainers.bench)
app.command()(cli_maintainers.insights)
app.add_typer(cli_maintainers.db_app, name="db")
app.add_typer(cli_maintainers.plan_app, name="plan")
app.add_typer(cli_maintainers.feedback_app, name="feedback")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
