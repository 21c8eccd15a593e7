"""Errors as JSON: `{"error": {"code", "message", "details"}}`, for every status the app returns."""

from __future__ import annotations

import logging
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask, Response, jsonify
from kombu.exceptions import OperationalError as BrokerError
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API answers with; `details` says which input was wrong and how."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Unavailable(ApiError):
    status, code = 503, "unavailable"


#: What a dependency that is down (or locked, or restarting) raises, and what the API says.
DEPENDENCY_ERRORS: tuple[tuple[tuple[type[BaseException], ...], str, str], ...] = (
    ((sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError),
     "database_unavailable", "The job database cannot be reached right now"),
    ((redis.ConnectionError, redis.TimeoutError),
     "journal_unavailable", "The job journal (Redis) cannot be reached right now"),
    ((BrokerError,), "broker_unavailable", "The message broker cannot be reached right now"),
)
RETRY_AFTER_SECONDS = 5


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    response = jsonify(error={"code": code, "message": message, "details": details})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="jobplatform"'
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def validation_details(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Pydantic's errors as [{"field": "params.user_id", "problem": "..."}]."""
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        details.append({"field": field or prefix or "body", "problem": error["msg"]})
    return details


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name
        allowed = ", ".join(getattr(exc, "valid_methods", None) or [])
        if exc.code == 405:
            message = f"{exc.description} Allowed: {allowed}."
        response = error_response(exc.code or 500, code, message)
        if exc.code == 405:
            response.headers["Allow"] = allowed  # RFC 9110 requires it on a 405
        return response

    for errors, code, message in DEPENDENCY_ERRORS:
        for error in errors:
            app.register_error_handler(error, _dependency_down(code, message))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # A bug, not the caller's fault: logged with its traceback, answered without it.
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side.")


def _dependency_down(code: str, message: str) -> Any:
    def handle(exc: Exception) -> Response:
        # Not a bug: nothing was changed (the request's transaction is rolled back with the
        # session), and the same request can be sent again once it is back (see /healthz).
        # The driver's own message: SQLAlchemy's would add the statement and its values.
        log.warning("%s: %s", code, getattr(exc, "orig", None) or exc)
        return error_response(503, code, f"{message}; nothing was changed. Try again in a "
                                         f"few seconds; /healthz says what is down.")
    return handle
