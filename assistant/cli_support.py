"""What every `aq-coach` verb shares: the two consoles, --json output, one-line errors with their exit
codes, reading the settings, and the options several verbs take.

Errors are one clear line on stderr (or {"error": ...} with --json) and a non-zero exit code, never a
traceback: 2 for bad input, 1 for a known failure, 130 when interrupted.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:  # pydantic-settings is imported by the verbs that read settings, not by --help
    from .config import Settings

out = Console()
err = Console(stderr=True)

JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")
BACKEND_OPT = typer.Option(None, "--backend", help="composer (offline default), llamacpp or openai.")


class UsageProblem(Exception):
    """Bad input from the user: exit code 2."""


def emit_json(data) -> None:
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
        emit_json({"error": message})
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)


def load_settings(**overrides) -> Settings:
    from .config import get_settings

    try:
        return get_settings(**overrides)
    except Exception as exc:  # pydantic ValidationError: a bad AQ_* value
        raise UsageProblem(f"invalid settings: {exc}") from None
