"""A webhook endpoint that records every request (method, path, headers, raw body) and answers
200, or what it was told to.

    with WebhookReceiver() as hook:
        ...  # message.url = hook.url + "/hooks/a"
        assert hook.requests[0].json() == {"x": 1}
"""

from __future__ import annotations

from standardwebhooks import Webhook, WebhookVerificationError

from .http_base import Reply, Request, Rule, ThreadedHttpFake


class WebhookReceiver(ThreadedHttpFake):
    def __init__(self) -> None:
        super().__init__()
        self._rules: dict[str, Rule] = {}

    def respond_with(
        self,
        status: int,
        *,
        path: str = "*",
        body: bytes = b"",
        retry_after: str | None = None,
        times: int | None = None,
    ) -> None:
        """Answer requests to ``path`` ("*": any) with ``status`` (``times`` times)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._rules[path] = Rule(Reply(status, body, headers), times)

    def handle(self, request: Request) -> Reply:
        with self.lock:
            for key in (request.path, "*"):
                rule = self._rules.get(key)
                reply = rule.take() if rule else None
                if reply is not None:
                    return reply
        return Reply(200, b"ok")

    @staticmethod
    def signature_valid(request: Request, secret: str) -> bool:
        """Checked by the Standard Webhooks reference verifier (id, timestamp within 5 minutes, v1 signature)."""
        try:
            Webhook(secret).verify(request.body, request.headers, json_parse=False)
        except WebhookVerificationError:
            return False
        return True
