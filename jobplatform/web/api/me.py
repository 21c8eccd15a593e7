"""Who the caller is: what the dashboard needs to know whose tab it shows."""

from __future__ import annotations

from flask import jsonify

from ..auth import current_user
from ..schemas import MeOut, NoQuery
from . import api
from .requests import parse_query


@api.get("/me")
def me():
    parse_query(NoQuery)
    user = current_user()
    return jsonify(MeOut(id=user.id, email=user.email, name=user.name,
                         is_admin=user.is_admin).model_dump(mode="json"))
