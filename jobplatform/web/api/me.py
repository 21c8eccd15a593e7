"""Who the caller is: what the dashboard needs to know whose tab it shows."""

from __future__ import annotations

from flask import current_app, jsonify

from ..auth import current_user
from ..schemas import MeOut, NoQuery
from . import api
from .requests import parse_query


@api.get("/me")
def me():
    parse_query(NoQuery)
    user = current_user()
    flower_url = current_app.config["JOBPLATFORM_SETTINGS"].flower_url
    operator = {"flower_url": flower_url} if user.is_admin and flower_url else {}
    me = MeOut(id=user.id, email=user.email, name=user.name, is_admin=user.is_admin, **operator)
    # Unset fields stay out: an agent's answer has no Flower in it at all.
    return jsonify(me.model_dump(mode="json", exclude_unset=True))
