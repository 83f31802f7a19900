"""The maintainers' page: what athletes ask that the articles don't answer (`aq-coach insights` in the
browser), behind a login of its own.

`AQ_ADMIN_AUTH` ('user:password') is separate from the athletes' `AQ_AUTH`: an athlete's login never
opens this page. Without `AQ_ADMIN_AUTH` the page is off. The routes are plain FastAPI routes added to
the Gradio server's app (HTTP Basic, compared in constant time):

- `GET /maintainers?since=DAYS`: the insights page (topics, bar chart, examples, rated answers);
- `GET /maintainers/topics?since=DAYS`: the same topics as JSON (`{"topics": [...]}`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from .config import Settings

PATH = "/maintainers"
REALM = "AQ Coach maintainers"


def parse_admin_auth(value: str | None) -> tuple[str, str] | None:
    """'user:password' → (user, password); None when unset. A malformed value is a clear ValueError."""
    from .ui import parse_auth  # the athletes' login is parsed the same way

    return parse_auth(value, "AQ_ADMIN_AUTH")


def admin_login(settings: Settings) -> tuple[str, str] | None:
    """The maintainer login from settings.admin_auth (a secret, or plain text in a copied Settings)."""
    value = settings.admin_auth
    return parse_admin_auth(value.get_secret_value() if hasattr(value, "get_secret_value") else value)


def _since(raw: str | None) -> float | None:
    """The `since` query parameter: days, a positive number up to 100000, or absent."""
    if raw in (None, ""):
        return None
    try:
        days = float(raw)
    except ValueError:
        days = -1.0
    if not 0 < days <= 100_000:   # also NaN and inf
        from fastapi import HTTPException

        raise HTTPException(400, "since must be a positive number of days (at most 100000)")
    return days


def add_maintainer_routes(app, settings: Settings, topics: Callable[[float | None], list[dict]],
                          page: Callable[[list[dict]], str]) -> bool:
    """Add the maintainers' routes to `app` (a FastAPI app, before Gradio adds its own). `topics(since)`
    computes the insights topics as dicts; `page(topics)` renders them as one HTML page. Returns whether
    the page is on (AQ_ADMIN_AUTH set)."""
    from fastapi import Depends, HTTPException
    from fastapi.responses import HTMLResponse, JSONResponse
    from fastapi.security import HTTPBasic, HTTPBasicCredentials

    login = admin_login(settings)
    basic = HTTPBasic(realm=REALM, auto_error=False)

    def maintainer(credentials: HTTPBasicCredentials | None = Depends(basic)) -> None:
        if login is None:
            raise HTTPException(403, "the maintainers' page is off: set AQ_ADMIN_AUTH='user:password' to turn it on")
        ok = credentials is not None and all([
            secrets.compare_digest(credentials.username.encode(), login[0].encode()),
            secrets.compare_digest(credentials.password.encode(), login[1].encode()),
        ])
        if not ok:
            raise HTTPException(401, "the maintainers' login is required", headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})

    @app.get(PATH, response_class=HTMLResponse, dependencies=[Depends(maintainer)], include_in_schema=False)
    def maintainers_page(since: str | None = None) -> HTMLResponse:
        return HTMLResponse(page(topics(_since(since))), headers={"Cache-Control": "no-store"})

    @app.get(f"{PATH}/topics", dependencies=[Depends(maintainer)], include_in_schema=False)
    def maintainers_topics(since: str | None = None) -> JSONResponse:
        return JSONResponse({"topics": topics(_since(since))}, headers={"Cache-Control": "no-store"})

    return login is not None


def maintainer_app(settings: Settings, store=None):
    """The FastAPI app Gradio serves the chat on (`demo.launch(_app=…)`), with the maintainers' routes
    added first. The insights service is made at the first request, and only when the page is on."""
    from gradio.routes import App

    app = App()
    made: list = []

    def topics(since: float | None) -> list[dict]:
        from .insights import Insights

        if not made:
            made.append(Insights(settings, store=store))
        return [t.as_dict() for t in made[0].topics(since)]

    def page(found: list[dict]) -> str:
        from .insights_report import render_page

        return render_page(found)

    add_maintainer_routes(app, settings, topics, page)
    return app
