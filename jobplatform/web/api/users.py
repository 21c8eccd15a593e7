"""The users, for operators (the dashboard's user picker), with their job counts."""

from __future__ import annotations

import sqlalchemy as sa
from flask import jsonify

from ...extensions import db
from ...jobs.counts import jobs_by_user
from ...users.models import User
from ..auth import current_user
from ..errors import BadRequest, Forbidden
from ..schemas import UserListOut, UserListQuery, UserOut
from . import api
from .requests import parse_query


@api.get("/users")
def list_users():
    query = parse_query(UserListQuery)
    if not current_user().is_admin:
        raise Forbidden("Only operators may list users.")
    stmt = sa.select(User).order_by(User.id).limit(query.limit + 1)
    if query.cursor is not None:
        if not query.cursor.isdigit():
            raise BadRequest("That cursor is not one this API issued.",
                             details=[{"field": "cursor", "problem": "not recognised"}])
        stmt = stmt.where(User.id > int(query.cursor))
    if query.q:
        stmt = stmt.where(sa.or_(User.email.icontains(query.q, autoescape=True),
                                 User.name.icontains(query.q, autoescape=True)))
    users = list(db.session.scalars(stmt))
    more = len(users) > query.limit
    users = users[:query.limit]
    counts = jobs_by_user(db.session, [u.id for u in users])
    out = UserListOut(
        users=[UserOut(id=u.id, email=u.email, name=u.name, is_admin=u.is_admin,
                       created_at=u.created_at, jobs=counts[u.id]) for u in users],
        next_cursor=str(users[-1].id) if more else None,
    )
    return jsonify(out.model_dump(mode="json"))
