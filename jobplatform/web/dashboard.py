"""The dashboard page: a shell of HTML whose scripts read everything from the JSON API with
the user's token, so what it shows is scoped by the server, like any other API client."""

from __future__ import annotations

import functools
import uuid
from importlib.metadata import version

from flask import Blueprint, Response, render_template

dashboard = Blueprint("dashboard", __name__, template_folder="templates",
                      static_folder="static", static_url_path="/dashboard/static")

# No inline script or style anywhere: whatever text a job carries can never run as code.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@functools.cache
def _version() -> str:
    return version("jobplatform")


def _page() -> Response:
    response = Response(render_template("dashboard.html", version=_version()))
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-cache"
    return response


@dashboard.get("/dashboard")
def page():
    return _page()


@dashboard.get("/dashboard/jobs/<job_id>")
def job_page(job_id: str):
    """The dashboard opened on one job (the page asks the API for it, and says if it is not
    there); answered 404 when the link cannot name a job at all."""
    response = _page()
    try:
        uuid.UUID(job_id)
    except ValueError:
        response.status_code = 404
    return response


@dashboard.after_request
def harden_static(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
