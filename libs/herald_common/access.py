"""Who may call which gRPC method, and with which token.

Two tokens open herald's services, both sent as `authorization: Bearer <token>` metadata:

- the admin token (HERALD_ADMIN_TOKEN, else `$HERALD_DATA_DIR/admin_token`): the CLI, the console
  and any operator's script. It opens every management method: campaigns, settings, users,
  events, sends.
- the internal token (HERALD_INTERNAL_TOKEN, else `$HERALD_DATA_DIR/internal_token`): herald's
  services calling each other (and the gateway calling them). It opens the methods listed
  INTERNAL or ADMIN_OR_INTERNAL below, and no management method.

The admin token never opens an INTERNAL method: whoever manages campaigns cannot, with that
token, inject events past the gateway or tell campaign a send went out. Health and reflection
stay open (Kubernetes probes, grpcurl). A method missing from METHODS needs the admin token,
and tests/unit/test_access.py fails for a service method that is not listed, so a new RPC is
classified on purpose.
"""

from __future__ import annotations

import enum
import hmac
from pathlib import Path

import grpc

from herald_common import tls
from herald_common.keyfiles import kept_secret

ADMIN_TOKEN_FILE = "admin_token"
INTERNAL_TOKEN_FILE = "internal_token"
AUTHORIZATION_HEADER = "authorization"


class Rule(enum.Enum):
    OPEN = "open"
    ADMIN = "admin"
    INTERNAL = "internal"
    ADMIN_OR_INTERNAL = "admin or internal"


ADMIN, INTERNAL, ADMIN_OR_INTERNAL = Rule.ADMIN, Rule.INTERNAL, Rule.ADMIN_OR_INTERNAL

IDENTITY = "herald.identity.v1.IdentityService"
INGEST = "herald.ingest.v1.IngestService"
CAMPAIGN = "herald.campaign.v1.CampaignService"
DELIVERY = "herald.delivery.v1.DeliveryService"

# Every method of every herald service: its rule, and who calls it (read from the code).
METHODS: dict[str, dict[str, tuple[Rule, str]]] = {
    IDENTITY: {
        "EnsureWorkspace": (ADMIN_OR_INTERNAL, "the gateway as it starts (HERALD_WRITE_KEY); herald up"),
        "GetWorkspaceByWriteKey": (INTERNAL, "the gateway, for each write key it is sent"),
        "ListWorkspaces": (ADMIN, "the console's workspace switcher"),
        "Identify": (INTERNAL, "the gateway (Segment identify)"),
        "Alias": (INTERNAL, "the gateway (Segment alias)"),
        "Group": (INTERNAL, "the gateway (Segment group)"),
        "Resolve": (INTERNAL, "ingest, for every recorded event's user"),
        "GetUser": (ADMIN_OR_INTERNAL, "campaign (filters, templates); ingest (ListUserEvents); herald users show"),
        "GetUsers": (INTERNAL, "campaign's Simulate (user conditions and addresses as they are now)"),
        "DeleteUser": (ADMIN, "herald users delete"),
        "RemoveDevice": (INTERNAL, "delivery, when a push provider reports a token gone"),
        "SearchUsers": (ADMIN, "the console's Users page"),
    },
    INGEST: {
        "Record": (INTERNAL, "the gateway (Segment track, page, screen)"),
        "ListEvents": (ADMIN, "herald events list; the console's Events page"),
        "GetEventDefinition": (ADMIN, "herald events show; the console"),
        "DefineEvent": (ADMIN, "herald events define; the console"),
        "HideEvent": (ADMIN, "herald events hide; the console"),
        "UnhideEvent": (ADMIN, "herald events unhide; the console"),
        "ListUserEvents": (ADMIN, "herald users events; the console's user page"),
        "ListEventsByName": (ADMIN, "the console's event page"),
        "PurgeUserEvents": (INTERNAL, "identity, as DeleteUser removes a user"),
        "ReadEvents": (INTERNAL, "campaign's Simulate, reading a period's events"),
    },
    CAMPAIGN: {
        "ApplyCampaign": (ADMIN, "herald campaigns apply"),
        "GetCampaign": (ADMIN, "herald campaigns show"),
        "ListCampaigns": (ADMIN, "herald campaigns list"),
        "PauseCampaign": (ADMIN, "herald campaigns pause"),
        "ResumeCampaign": (ADMIN, "herald campaigns resume"),
        "ArchiveCampaign": (ADMIN, "herald campaigns archive"),
        "GetCampaignStats": (ADMIN, "herald campaigns stats"),
        "ListCampaignSummaries": (ADMIN, "herald campaigns list; the console's Campaigns page"),
        "ListCampaignVersions": (ADMIN, "herald campaigns versions; a campaign's page in the console"),
        "GetCampaignDaily": (ADMIN, "herald campaigns daily; a campaign's chart in the console"),
        "PreviewMessage": (ADMIN, "herald campaigns preview; the console's editor"),
        "OnEvents": (INTERNAL, "ingest's outbox"),
        "Confirm": (INTERNAL, "delivery, before a send goes out"),
        "MarkSent": (INTERNAL, "delivery, once a provider accepted a send"),
        "ConfirmBatch": (INTERNAL, "delivery's dispatcher"),
        "MarkSentBatch": (INTERNAL, "delivery's outcome reports"),
        "ListSends": (ADMIN, "herald sends list"),
        "Unsubscribe": (ADMIN, "herald users unsubscribe / resubscribe; the console's user page"),
        "GetSubscriptions": (ADMIN, "the console's user page"),
        "ApplySettings": (ADMIN, "herald settings apply"),
        "GetSettings": (ADMIN, "herald settings show"),
        "PromoteVariant": (ADMIN, "herald campaigns promote"),
        "GetUserExperiments": (ADMIN, "herald users show (global control and experiment groups)"),
        "Simulate": (ADMIN, "herald campaigns simulate"),
        "Explain": (ADMIN, "herald explain; the console's user page"),
        "ForgetProfiles": (INTERNAL, "identity, as DeleteUser removes a user"),
    },
    DELIVERY: {
        "Schedule": (INTERNAL, "campaign, as a user enters a campaign"),
        "Cancel": (INTERNAL, "campaign (cancel by campaign or user)"),
        "CancelSends": (INTERNAL, "campaign (cancel_if)"),
        "GetSend": (ADMIN, "operators' scripts"),
        "ListSends": (ADMIN, "operators' scripts; the console's Sends page"),
        "Release": (INTERNAL, "campaign, as a paused campaign resumes"),
        "Explain": (ADMIN, "herald explain; the console's user page"),
        "ForgetProfiles": (INTERNAL, "identity, as DeleteUser removes a user"),
    },
}

# Open to anyone who reaches the port: what a probe or grpcurl asks before it has any token.
OPEN_SERVICES = frozenset({
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
})

RULES: dict[str, Rule] = {
    f"/{service}/{method}": rule for service, methods in METHODS.items() for method, (rule, _) in methods.items()
}


def rule_of(method: str) -> Rule:
    """The rule of a full method name, `/package.Service/Method`; unlisted ones need the admin token."""
    rule = RULES.get(method)
    if rule is not None:
        return rule
    service = method[1:].split("/", 1)[0]
    return Rule.OPEN if service in OPEN_SERVICES else Rule.ADMIN


# ---- the tokens -------------------------------------------------------------------------------


def admin_token(settings) -> tuple[str, str]:
    """(token, where it is kept): HERALD_ADMIN_TOKEN, else `$HERALD_DATA_DIR/admin_token`,
    generated once (mode 0600) when missing."""
    return _token(settings.admin_token, "HERALD_ADMIN_TOKEN", Path(settings.data_dir) / ADMIN_TOKEN_FILE)


def internal_token(settings) -> tuple[str, str]:
    """(token, where it is kept): HERALD_INTERNAL_TOKEN, else `$HERALD_DATA_DIR/internal_token`,
    generated once (mode 0600) when missing. Every process of the suite must see the same one:
    one data dir on one machine, or the variable from one Secret on Kubernetes."""
    return _token(settings.internal_token, "HERALD_INTERNAL_TOKEN", Path(settings.data_dir) / INTERNAL_TOKEN_FILE)


def _token(configured: str | None, variable: str, path: Path) -> tuple[str, str]:
    if configured and configured.strip():
        return configured.strip(), variable
    token, _ = kept_secret(path)
    return token, str(path)


def bearer(token: str) -> tuple[str, str]:
    return (AUTHORIZATION_HEADER, f"Bearer {token}")


# ---- the server's side ------------------------------------------------------------------------

_WHERE = {
    ADMIN: "the admin token (HERALD_ADMIN_TOKEN, or the admin_token file in the data dir)",
    INTERNAL: "the suite's internal token (HERALD_INTERNAL_TOKEN, or the internal_token file in the data dir)",
}


class Gate:
    """Checks a call's token against its method's rule, in constant time."""

    def __init__(self, *, admin_token: str, internal_token: str) -> None:
        if not admin_token or not internal_token:
            raise ValueError("both the admin and the internal token must be non-empty")
        if hmac.compare_digest(admin_token.encode(), internal_token.encode()):
            raise ValueError(
                "HERALD_INTERNAL_TOKEN must differ from HERALD_ADMIN_TOKEN: the admin token must not open "
                "the calls between services"
            )
        self._admin = admin_token.encode()
        self._internal = internal_token.encode()

    @classmethod
    def from_settings(cls, settings) -> Gate:
        return cls(admin_token=admin_token(settings)[0], internal_token=internal_token(settings)[0])

    def refusal(self, method: str, authorization: str | None) -> str | None:
        """None when the call may go on; else why not, for an UNAUTHENTICATED answer (never a token)."""
        rule = rule_of(method)
        if rule is Rule.OPEN:
            return None
        name = method.lstrip("/")
        if rule is Rule.ADMIN_OR_INTERNAL:
            needs = f"{name} needs the admin token or the suite's internal token"
        elif rule is Rule.INTERNAL:
            needs = f"{name} is called by herald's own services and needs {_WHERE[INTERNAL]}"
        else:
            needs = f"{name} needs {_WHERE[ADMIN]}"
        if not authorization:
            return f"{needs} as `authorization: Bearer <token>` metadata; none was sent"
        scheme, _, given = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return f"{needs} as `authorization: Bearer <token>` metadata; the authorization sent is not of that form"
        token = given.strip().encode()
        is_admin = hmac.compare_digest(token, self._admin)
        is_internal = hmac.compare_digest(token, self._internal)
        if rule is Rule.ADMIN:
            if is_admin:
                return None
            if is_internal:
                return f"{needs}; the internal token does not open management calls"
        elif rule is Rule.INTERNAL:
            if is_internal:
                return None
            if is_admin:
                return f"{needs}; the admin token does not open calls between services"
        else:
            if is_admin or is_internal:
                return None
            return f"{needs}; the token sent is neither"
        return f"{needs}; the token sent is not it"


# ---- the client's side ------------------------------------------------------------------------


class Caller:
    """What a client presents: on each call one token, or (a test acting as several callers)
    both, each method then getting the one its real caller holds; and, when the suite runs TLS,
    its channel credentials (tls.py), the same for every client a process opens."""

    __slots__ = ("admin_token", "internal_token", "credentials", "channel_options", "_only")

    def __init__(
        self,
        *,
        admin_token: str = "",
        internal_token: str = "",
        credentials: grpc.ChannelCredentials | None = None,
        channel_options: tuple = (),
    ) -> None:
        if not admin_token and not internal_token:
            raise ValueError("a caller needs the admin token or the internal token")
        self.admin_token = admin_token
        self.internal_token = internal_token
        self.credentials = credentials
        self.channel_options = channel_options
        self._only = bearer(admin_token or internal_token) if not (admin_token and internal_token) else None

    @classmethod
    def admin(cls, settings) -> Caller:
        """The CLI's and the console's: the admin token."""
        return cls(admin_token=admin_token(settings)[0], **tls.client_side(settings))

    @classmethod
    def internal(cls, settings) -> Caller:
        """A service's (and the gateway's): the internal token."""
        return cls(internal_token=internal_token(settings)[0], **tls.client_side(settings))

    def authorization(self, service: str, method: str) -> tuple[str, str]:
        """The `authorization` metadata for a call of service's method."""
        if self._only is not None:
            return self._only
        rule = rule_of(f"/{service}/{method}")
        return bearer(self.admin_token if rule is Rule.ADMIN else self.internal_token)
