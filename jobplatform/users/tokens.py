"""Creating users and API tokens, and finding the user a token belongs to."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import ApiToken, User

TOKEN_PREFIX = "jp_"
FIRST_ADMIN_EMAIL = "admin@localhost"


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: nothing to guess, and a lookup
    # by hash needs no per-user salt.
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, email: str, *, name: str | None = None,
                admin: bool = False) -> User:
    user = User(email=email.strip().lower(), name=name, is_admin=admin,
                created_at=datetime.now(UTC))
    session.add(user)
    session.flush()
    return user


def issue_token(session: Session, user: User) -> str:
    """A new token for `user`; the only time its plain text exists is this return value."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:10],
                         created_at=datetime.now(UTC)))
    return token


def user_for_token(session: Session, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return session.execute(
        sa.select(User).join(ApiToken, ApiToken.user_id == User.id).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    ).scalar_one_or_none()


def create_first_admin(session: Session) -> tuple[User, str] | None:
    """On an instance with no users yet, an operator and their token (the only time it
    exists in plain text); None once anyone exists. The caller holds the write lock."""
    if session.scalar(sa.select(User.id).limit(1)) is not None:
        return None
    user = create_user(session, FIRST_ADMIN_EMAIL, name="Operator", admin=True)
    return user, issue_token(session, user)
