"""Local stand-ins for the providers delivery talks to, each speaking the provider's documented
API on 127.0.0.1 and a free port, in a thread of its own (so it works whatever event loop, or
none, the test runs): start(), .url / .port, what it received, stop(); also a context manager.

- SmtpSink (smtp_sink): a real aiosmtpd server, optional STARTTLS and AUTH;
- TwilioServer (twilio_server): the Messages and Calls resources;
- ApnsServer (apns_server): APNs over HTTP/2 (h2c), checking the ES256 provider token;
- FcmServer (fcm_server): the OAuth token endpoint and FCM HTTP v1 messages:send;
- WebhookReceiver (webhook_receiver): records each POST.
"""

from .apns_server import ApnsServer
from .fcm_server import FcmServer
from .smtp_sink import SmtpSink
from .twilio_server import TwilioServer
from .webhook_receiver import WebhookReceiver

__all__ = ["ApnsServer", "FcmServer", "SmtpSink", "TwilioServer", "WebhookReceiver"]
