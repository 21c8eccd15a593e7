"""Conditional GETs for the views a dashboard polls: an ETag from the scope's version (see
jobs/versions.py), so asking again about a scope where nothing changed costs one small read
and a bodiless 304 instead of the view's queries."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from flask import Response, request

from ..extensions import db
from ..jobs.versions import read_versions
from .auth import current_user

CACHE_CONTROL = "private, no-cache"


def scope_etag(scopes: Iterable[str], *extra: object) -> str:
    """The ETag of this request's view: its path and query, the caller, the scopes' versions,
    and whatever else the view depends on (`extra`, e.g. the current minute)."""
    user = current_user()
    parts = (request.path, sorted(request.args.items(multi=True)), user.id, user.is_admin,
             read_versions(db.session, scopes), extra)
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


def not_modified(etag: str) -> Response | None:
    """A 304 if the caller already holds this version of the view, else None."""
    if not request.if_none_match.contains_weak(etag):
        return None
    response = Response(status=304)
    return with_etag(response, etag)


def with_etag(response: Response, etag: str) -> Response:
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.vary.add("Authorization")
    return response
