"""A stand-in for Twilio's REST API: POST /2010-04-01/Accounts/{sid}/Messages.json and
Calls.json, form-encoded, HTTP Basic sid:token; answers 201 with a resource JSON or Twilio's
error JSON ``{code, message, more_info, status}``.

    with TwilioServer(account_sid="AC" + "0" * 32, auth_token="tok") as twilio:
        ...  # settings.twilio_base_url = twilio.url
        assert twilio.messages[0]["To"] == "+14155552671"
"""

from __future__ import annotations

import base64
import itertools
import re
from urllib.parse import parse_qs

from .http_base import Reply, Request, Rule, ThreadedHttpFake

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/(?P<resource>Messages|Calls)\.json$")


class TwilioServer(ThreadedHttpFake):
    def __init__(self, account_sid: str = "AC" + "1" * 32, auth_token: str = "twilio-test-token") -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, str]] = []  # accepted Messages.json forms
        self.calls: list[dict[str, str]] = []  # accepted Calls.json forms
        self._rules: dict[str, Rule] = {}
        self._ids = itertools.count(1)

    # -- scripting ----------------------------------------------------------------------------
    def respond_for(
        self,
        to: str,
        status: int,
        *,
        code: int | None = None,
        message: str = "",
        retry_after: str | None = None,
        times: int | None = None,
    ) -> None:
        """Answer requests to ``to`` with ``status`` and Twilio's error JSON (``times`` times)."""
        document = {
            "code": code,
            "message": message or f"scripted {status}",
            "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
            "status": status,
        }
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._rules[to] = Rule(Reply.json(status, document, **headers), times)

    def invalid_number(self, to: str) -> None:
        """Twilio's 400, code 21211: the To number is not valid."""
        self.respond_for(to, 400, code=21211, message=f"Invalid 'To' Phone Number: {to}")

    # -- the API ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        match = _PATH.match(request.path)
        if request.method != "POST" or match is None:
            return _error(404, 20404, "The requested resource was not found")
        if not self._authorised(request.headers.get("authorization", ""), match["sid"]):
            return _error(401, 20003, "Authenticate")
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _error(400, 20001, "expected a form-encoded body")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        resource = match["resource"]
        sender = form.get("From") or form.get("MessagingServiceSid")
        if not form.get("To") or not sender:
            return _error(400, 21604, "A 'To' and a 'From' phone number are required.")
        if resource == "Messages" and not form.get("Body"):
            return _error(400, 21602, "Message body is required.")
        if resource == "Calls" and not (form.get("Twiml") or form.get("Url")):
            return _error(400, 21205, "Url or Twiml is required.")
        with self.lock:
            rule = self._rules.get(form["To"])
            scripted = rule.take() if rule else None
            if scripted is not None:
                return scripted
            sid = ("SM" if resource == "Messages" else "CA") + f"{next(self._ids):032x}"
            (self.messages if resource == "Messages" else self.calls).append(form)
        return Reply.json(201, {"sid": sid, "status": "queued", "to": form["To"], "from": sender,
                                "account_sid": self.account_sid})

    def _authorised(self, header: str, sid: str) -> bool:
        if not header.startswith("Basic ") or sid != self.account_sid:
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token


def _error(status: int, code: int, message: str) -> Reply:
    return Reply.json(status, {"code": code, "message": message, "more_info": "", "status": status})
