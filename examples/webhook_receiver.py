"""A formflow webhook receiver: verifies Standard Webhooks signatures, deduplicates on webhook-id.

    python examples/webhook_receiver.py --port 9000 --secret whsec_...

Formflow delivers at least once: the same message (same `webhook-id`) can arrive
twice — after a timeout, a worker crash, or a replay from the delivery log. A
receiver therefore (1) verifies the signature over the raw body, (2) refuses
timestamps older than five minutes (replay protection), and (3) processes each
`webhook-id` once, answering 2xx to duplicates without doing the work again.
The dedup store here is in memory; use your database (a unique key on the id) in
production. The `standardwebhooks` package verifies the same way:
`standardwebhooks.webhooks.Webhook(secret).verify(body, headers)`.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 5 * 60


class InvalidSignature(Exception):
    pass


def verify(secret: str, body: bytes, headers) -> str:
    """The verified webhook-id; InvalidSignature otherwise."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise InvalidSignature("missing webhook headers")
    try:
        ts = int(timestamp)
    except ValueError:
        raise InvalidSignature("bad timestamp") from None
    if abs(time.time() - ts) > TOLERANCE_SECONDS:
        raise InvalidSignature("timestamp outside the tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    expected = "v1," + base64.b64encode(
        hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    # several signatures are sent while a secret is being rotated: any one may match
    if not any(hmac.compare_digest(expected, s) for s in signatures.split(" ")):
        raise InvalidSignature("no matching signature")
    return msg_id


class Receiver:
    """A threaded HTTP receiver. `handle(msg_id, payload)` runs once per webhook-id.

    For tests: `respond(msg_id, payload, request_no) -> int | None` may choose a status
    (e.g. 500) before processing; `requests` lists every (webhook-id, verified) received.
    """

    def __init__(self, secret: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 handle=None, respond=None):
        self.secret = secret
        self.handle = handle or (lambda msg_id, payload: None)
        self.respond = respond
        self.seen: dict[str, dict] = {}
        self.requests: list[tuple[str | None, bool]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = receiver._on_request(self.headers, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            do_GET = do_POST

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _on_request(self, headers, body: bytes) -> int:
        msg_id = headers.get("webhook-id")
        verified = False
        if self.secret is not None:
            try:
                verify(self.secret, body, headers)
                verified = True
            except InvalidSignature:
                with self.lock:
                    self.requests.append((msg_id, False))
                return 401
        with self.lock:
            self.requests.append((msg_id, verified))
            number = len(self.requests)
        payload = json.loads(body) if body else None
        if self.respond is not None:
            status = self.respond(msg_id, payload, number)
            if status is not None:
                return status
        with self.lock:
            duplicate = msg_id in self.seen
            if not duplicate:
                self.seen[msg_id] = payload
        if not duplicate:
            self.handle(msg_id, payload)
        return 204

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True, help="the webhook's whsec_... secret")
    args = parser.parse_args()

    def handle(msg_id, payload):
        print(msg_id, payload.get("type"), json.dumps(payload.get("data"), ensure_ascii=False)[:200])
    receiver = Receiver(args.secret, args.host, args.port, handle=handle)
    print(f"listening on {receiver.url}")
    receiver.server.serve_forever()


if __name__ == "__main__":
    main()
