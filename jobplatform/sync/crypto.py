"""Provider API keys at rest: encrypted with a key derived from JOBPLATFORM_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["InvalidToken", "decrypt", "encrypt", "fingerprint"]


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"jobplatform provider keys\0" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt(secret_key: str, token: str) -> str:
    """The plaintext; raises InvalidToken if the secret key changed since it was stored."""
    return _fernet(secret_key).decrypt(token.encode()).decode()


def fingerprint(api_key: str) -> str:
    """A short, one-way tag to tell keys apart in lists (never the key itself)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]
