"""SMS and voice calls through Twilio's REST API (Messages and Calls resources)."""

from __future__ import annotations

from xml.sax.saxutils import escape

import httpx

from ._http import classify_status, json_or_none, transport_failure
from .base import Address, Attempt, Message

DEFAULT_BASE_URL = "https://api.twilio.com"


def say_twiml(text: str) -> str:
    """The TwiML that reads ``text`` aloud once."""
    return f"<Response><Say>{escape(text)}</Say></Response>"


class TwilioProvider:
    """One POST per message: Messages.json for sms, Calls.json (inline TwiML) for voice."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
    ) -> None:
        self.account_sid = account_sid
        self.from_ = from_
        self._accounts_url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}"
        self._client = httpx.AsyncClient(
            auth=httpx.BasicAuth(account_sid, auth_token),
            timeout=timeout,
            headers={"accept": "application/json"},
        )

    def _sender(self) -> dict[str, str]:
        # A Messaging Service SID (MG...) is sent as such; anything else is a phone number.
        if self.from_.startswith("MG") and len(self.from_) == 34:
            return {"MessagingServiceSid": self.from_}
        return {"From": self.from_}

    async def send(self, message: Message, address: Address) -> Attempt:
        if address.kind != "phone":
            return Attempt("permanent", f"twilio sends to phone numbers, not {address.kind}")
        if message.channel == "voice":
            url = f"{self._accounts_url}/Calls.json"
            form = {"To": address.value, "From": self.from_, "Twiml": say_twiml(message.body)}
        elif message.channel == "sms":
            url = f"{self._accounts_url}/Messages.json"
            form = {"To": address.value, **self._sender(), "Body": message.body}
        else:
            return Attempt("permanent", f"twilio does not send {message.channel} messages")
        try:
            response = await self._client.post(url, data=form)
        except httpx.HTTPError as error:
            return transport_failure(error)
        body = json_or_none(response)
        if response.is_success:
            return Attempt("accepted", str(body.get("sid", "")) if isinstance(body, dict) else "")
        return classify_status(response, _reason(body, response))

    async def close(self) -> None:
        await self._client.aclose()


def _reason(body: object, response: httpx.Response) -> str:
    """Twilio's error JSON is {code, message, more_info, status}."""
    if isinstance(body, dict) and body.get("message"):
        code = body.get("code")
        return f"{body['message']} (twilio {code})" if code else str(body["message"])
    return response.reason_phrase or response.text[:200]
