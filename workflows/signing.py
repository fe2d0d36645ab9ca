"""Standard Webhooks signatures (https://www.standardwebhooks.com).

    webhook-id:        the message id (stable across retries and replays)
    webhook-timestamp: integer Unix seconds of this attempt
    webhook-signature: "v1,<base64 HMAC-SHA256(secret, id + '.' + timestamp + '.' + body)>",
                       space-separated when several secrets sign (rotation)

Secrets are "whsec_" + base64 of random bytes.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
import time

from . import defaults

PREFIX = "whsec_"


class SignatureError(Exception):
    """A webhook whose headers or signature do not verify."""


def new_secret(nbytes: int = defaults.WEBHOOK_SECRET_BYTES) -> str:
    """A fresh signing secret: whsec_ + base64 of random bytes."""
    return PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode()


def secret_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(PREFIX):
        secret = secret[len(PREFIX):]
    key = base64.b64decode(secret + "==")
    if not key:
        raise ValueError("empty webhook secret")
    return key


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """One "v1,<base64>" signature."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    content = msg_id.encode() + b"." + str(int(timestamp)).encode() + b"." + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: list[str], msg_id: str, timestamp: int, body: bytes | str) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (newest first)."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(timestamp)),
            "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets)}


def verify(secret: str | bytes, body: bytes | str, headers: dict, *, now: float | None = None,
           tolerance: int = defaults.WEBHOOK_TOLERANCE_SECONDS) -> None:
    """Raise SignatureError unless one signature matches and the timestamp is recent."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not (msg_id and ts and sigs):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts_int = int(ts)
    except ValueError:
        raise SignatureError("invalid webhook-timestamp") from None
    now = time.time() if now is None else now
    if abs(now - ts_int) > tolerance:
        raise SignatureError("webhook-timestamp too far from now")
    expected = sign(secret, msg_id, ts_int, body).encode()
    if not any(hmac.compare_digest(expected, s.encode()) for s in sigs.split(" ")):
        raise SignatureError("no matching signature")
