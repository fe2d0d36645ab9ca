"""Standard Webhooks signatures agree byte for byte with the `standardwebhooks` package."""
from __future__ import annotations

import base64
import datetime as dt
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from workflows import signing

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTORS = [
    ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'),
    ("msg_1", 0, b""),
    ("msg_01hz", 1767225600, '{"type":"record.created","data":{"title":"报修 ☃"}}'.encode()),
    ("msg_x", 1767225600, bytes(range(256))),
]


@pytest.mark.parametrize("msg_id,ts,body", VECTORS)
def test_signatures_match_the_reference_implementation(msg_id, ts, body):
    ours = signing.sign(SECRET, msg_id, ts, body)
    theirs = Webhook(SECRET).sign(msg_id, dt.datetime.fromtimestamp(ts, dt.timezone.utc), body)
    assert ours == theirs


def test_the_spec_example_vector():
    # the example in the Standard Webhooks specification
    assert signing.sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') \
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_reference_verifier_accepts_our_headers_including_rotation():
    old, new = signing.new_secret(), signing.new_secret()
    body = b'{"type":"record.updated"}'
    headers = signing.headers([new, old], "msg_rot", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(body, headers) == {"type": "record.updated"}
    assert Webhook(old).verify(body, headers) == {"type": "record.updated"}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)


def test_our_verifier_refuses_tampering_and_old_timestamps():
    secret = signing.new_secret()
    body = b'{"a":1}'
    headers = signing.headers([secret], "msg_v", int(time.time()), body)
    signing.verify(secret, body, headers)
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, b'{"a":2}', headers)
    stale = signing.headers([secret], "msg_v", int(time.time()) - 3600, body)
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, body, stale)
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, body, {"webhook-id": "x"})


def test_new_secrets_are_prefixed_random_base64():
    a, b = signing.new_secret(), signing.new_secret()
    assert a != b and a.startswith("whsec_")
    assert len(base64.b64decode(a[len("whsec_"):])) == 24
