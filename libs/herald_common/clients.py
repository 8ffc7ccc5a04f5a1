"""Thin clients for calls from one service to another: one place, a deadline on every call."""

from __future__ import annotations

import grpc
from herald.campaign.v1 import campaign_pb2, campaign_pb2_grpc
from herald.delivery.v1 import delivery_pb2, delivery_pb2_grpc
from herald.identity.v1 import identity_pb2, identity_pb2_grpc
from herald.ingest.v1 import ingest_pb2, ingest_pb2_grpc

from herald_common import access
from herald_common.access import Caller
from herald_common.grpcclient import open_channel, request_metadata


class _Client:
    """One service's stub on a lazily opened channel. Every call carries the caller's token and
    the request id (`metadata(method)`); callers that use `stub` directly pass the same."""

    stub_class: type
    service: str  # the full proto name, e.g. "herald.identity.v1.IdentityService"

    def __init__(self, address: str, timeout: float, *, caller: Caller) -> None:
        self.address = address
        self.timeout = timeout
        self.caller = caller
        self._channel: grpc.aio.Channel | None = None
        self._stub = None

    @property
    def stub(self):
        if self._stub is None:
            self._channel = open_channel(self.address, self.caller.credentials, self.caller.channel_options)
            self._stub = self.stub_class(self._channel)
        return self._stub

    def metadata(self, method: str) -> tuple[tuple[str, str], ...] | None:
        """The metadata of a call of `method` (its bare name, e.g. "GetUser")."""
        return request_metadata(self.caller.authorization(self.service, method))

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None


class IdentityClient(_Client):
    stub_class = identity_pb2_grpc.IdentityServiceStub
    service = access.IDENTITY

    async def ensure_workspace(self, *, workspace_id: str, name: str, write_key: str) -> identity_pb2.Workspace:
        request = identity_pb2.EnsureWorkspaceRequest(id=workspace_id, name=name, write_key=write_key)
        return await self.stub.EnsureWorkspace(request, timeout=self.timeout, metadata=self.metadata("EnsureWorkspace"))

    async def workspace_by_write_key(self, write_key: str) -> identity_pb2.Workspace:
        request = identity_pb2.GetWorkspaceByWriteKeyRequest(write_key=write_key)
        return await self.stub.GetWorkspaceByWriteKey(
            request, timeout=self.timeout, metadata=self.metadata("GetWorkspaceByWriteKey")
        )

    async def list_workspaces(self) -> list[identity_pb2.Workspace]:
        request = identity_pb2.ListWorkspacesRequest()
        response = await self.stub.ListWorkspaces(
            request, timeout=self.timeout, metadata=self.metadata("ListWorkspaces")
        )
        return list(response.workspaces)

    async def identify(self, request: identity_pb2.IdentifyRequest) -> identity_pb2.IdentifyResponse:
        return await self.stub.Identify(request, timeout=self.timeout, metadata=self.metadata("Identify"))

    async def alias(self, request: identity_pb2.AliasRequest) -> identity_pb2.AliasResponse:
        return await self.stub.Alias(request, timeout=self.timeout, metadata=self.metadata("Alias"))

    async def group(self, request: identity_pb2.GroupRequest) -> identity_pb2.GroupResponse:
        return await self.stub.Group(request, timeout=self.timeout, metadata=self.metadata("Group"))

    async def resolve(self, request: identity_pb2.ResolveRequest) -> identity_pb2.ResolveResponse:
        return await self.stub.Resolve(request, timeout=self.timeout, metadata=self.metadata("Resolve"))

    async def get_user(self, workspace_id: str, user_or_anonymous_id: str) -> identity_pb2.User:
        request = identity_pb2.GetUserRequest(workspace_id=workspace_id, id=user_or_anonymous_id)
        return await self.stub.GetUser(request, timeout=self.timeout, metadata=self.metadata("GetUser"))

    async def get_users(self, workspace_id: str, profile_ids: list[str]) -> identity_pb2.GetUsersResponse:
        request = identity_pb2.GetUsersRequest(workspace_id=workspace_id, profile_ids=profile_ids)
        return await self.stub.GetUsers(request, timeout=self.timeout, metadata=self.metadata("GetUsers"))

    async def delete_user(self, workspace_id: str, user_or_anonymous_id: str) -> identity_pb2.DeleteUserResponse:
        request = identity_pb2.DeleteUserRequest(workspace_id=workspace_id, id=user_or_anonymous_id)
        return await self.stub.DeleteUser(request, timeout=self.timeout, metadata=self.metadata("DeleteUser"))

    async def remove_device(self, workspace_id: str, kind: str, token: str) -> bool:
        """Removes a push token the provider reported gone; True when identity had it."""
        request = identity_pb2.RemoveDeviceRequest(workspace_id=workspace_id, kind=kind, token=token)
        response = await self.stub.RemoveDevice(request, timeout=self.timeout, metadata=self.metadata("RemoveDevice"))
        return response.removed

    async def search_users(self, workspace_id: str, query: str, limit: int = 20) -> list[identity_pb2.UserMatch]:
        """Users by user id, anonymous id or email: exact matches first, then prefixes."""
        request = identity_pb2.SearchUsersRequest(workspace_id=workspace_id, query=query, limit=limit)
        response = await self.stub.SearchUsers(request, timeout=self.timeout, metadata=self.metadata("SearchUsers"))
        return list(response.matches)


class IngestClient(_Client):
    stub_class = ingest_pb2_grpc.IngestServiceStub
    service = access.INGEST

    async def record(self, request: ingest_pb2.RecordRequest) -> ingest_pb2.RecordResponse:
        return await self.stub.Record(request, timeout=self.timeout, metadata=self.metadata("Record"))

    async def list_events(self, workspace_id: str, include_hidden: bool) -> ingest_pb2.ListEventsResponse:
        request = ingest_pb2.ListEventsRequest(workspace_id=workspace_id, include_hidden=include_hidden)
        return await self.stub.ListEvents(request, timeout=self.timeout, metadata=self.metadata("ListEvents"))

    async def get_event_definition(self, workspace_id: str, name: str) -> ingest_pb2.EventDefinition:
        request = ingest_pb2.GetEventDefinitionRequest(workspace_id=workspace_id, name=name)
        return await self.stub.GetEventDefinition(
            request, timeout=self.timeout, metadata=self.metadata("GetEventDefinition")
        )

    async def define_event(self, workspace_id: str, name: str, description: str = "") -> ingest_pb2.EventDefinition:
        request = ingest_pb2.DefineEventRequest(workspace_id=workspace_id, name=name, description=description)
        return await self.stub.DefineEvent(request, timeout=self.timeout, metadata=self.metadata("DefineEvent"))

    async def hide_event(self, workspace_id: str, name: str, hidden: bool = True) -> ingest_pb2.EventDefinition:
        request = ingest_pb2.HideEventRequest(workspace_id=workspace_id, name=name)
        method = self.stub.HideEvent if hidden else self.stub.UnhideEvent
        return await method(
            request, timeout=self.timeout, metadata=self.metadata("HideEvent" if hidden else "UnhideEvent")
        )

    async def list_user_events(self, workspace_id: str, user_or_anonymous_id: str, limit: int = 100, before: str = "",
                               name: str = ""):
        """Newest first; `before` is an earlier answer's next_before (the next page); `name`: only
        events of that name."""
        request = ingest_pb2.ListUserEventsRequest(
            workspace_id=workspace_id, id=user_or_anonymous_id, limit=limit, before=before, name=name
        )
        return await self.stub.ListUserEvents(request, timeout=self.timeout, metadata=self.metadata("ListUserEvents"))

    async def list_events_by_name(
        self, workspace_id: str, name: str, *, limit: int = 20, before_id: int = 0
    ) -> ingest_pb2.ListEventsByNameResponse:
        """The latest events of one name, newest first; `before_id` is an earlier next_before_id."""
        request = ingest_pb2.ListEventsByNameRequest(workspace_id=workspace_id, name=name, limit=limit, before_id=before_id)
        return await self.stub.ListEventsByName(request, timeout=self.timeout, metadata=self.metadata("ListEventsByName"))

    async def read_events(self, request: ingest_pb2.ReadEventsRequest) -> ingest_pb2.ReadEventsResponse:
        return await self.stub.ReadEvents(request, timeout=self.timeout, metadata=self.metadata("ReadEvents"))

    async def purge_user_events(self, workspace_id: str, profile_ids: list[str]) -> int:
        request = ingest_pb2.PurgeUserEventsRequest(workspace_id=workspace_id, profile_ids=profile_ids)
        response = await self.stub.PurgeUserEvents(
            request, timeout=self.timeout, metadata=self.metadata("PurgeUserEvents")
        )
        return response.deleted


class CampaignClient(_Client):
    stub_class = campaign_pb2_grpc.CampaignServiceStub
    service = access.CAMPAIGN

    async def on_events(self, events) -> campaign_pb2.OnEventsResponse:
        return await self.send_events(campaign_pb2.OnEventsRequest(events=events))

    async def send_events(self, request: campaign_pb2.OnEventsRequest) -> campaign_pb2.OnEventsResponse:
        return await self.stub.OnEvents(request, timeout=self.timeout, metadata=self.metadata("OnEvents"))

    async def confirm_batch(self, send_ids) -> campaign_pb2.ConfirmBatchResponse:
        """Confirm for many sends in one call: one ConfirmResult per send id, in order, each with
        an answer or an error ("not_found", or "unavailable: ..." to ask again later)."""
        request = campaign_pb2.ConfirmBatchRequest(send_ids=send_ids)
        return await self.stub.ConfirmBatch(request, timeout=self.timeout, metadata=self.metadata("ConfirmBatch"))

    async def mark_sent_batch(self, reports) -> campaign_pb2.MarkSentBatchResponse:
        """Many outcomes (MarkSentRequest messages) in one call; campaign lists back the send ids
        it does not know (their reports are dropped), every other one is kept."""
        request = campaign_pb2.MarkSentBatchRequest(reports=reports)
        return await self.stub.MarkSentBatch(request, timeout=self.timeout, metadata=self.metadata("MarkSentBatch"))

    async def get_subscriptions(self, workspace_id: str, user_or_anonymous_id: str) -> campaign_pb2.Subscriptions:
        request = campaign_pb2.GetSubscriptionsRequest(workspace_id=workspace_id, id=user_or_anonymous_id)
        return await self.stub.GetSubscriptions(request, timeout=self.timeout, metadata=self.metadata("GetSubscriptions"))

    async def user_experiments(self, workspace_id: str, *, user_id: str, profile_id: str) -> campaign_pb2.UserExperiments:
        """The user's groups: the workspace's global control, and each live campaign's holdout or variant."""
        request = campaign_pb2.GetUserExperimentsRequest(workspace_id=workspace_id, user_id=user_id, profile_id=profile_id)
        return await self.stub.GetUserExperiments(request, timeout=self.timeout, metadata=self.metadata("GetUserExperiments"))

    async def set_subscribed(
        self, workspace_id: str, user_or_anonymous_id: str, *, subscribed: bool, campaign: str = ""
    ) -> None:
        """Unsubscribe (subscribed=False) or resubscribe a user, from every campaign or one by name."""
        request = campaign_pb2.UnsubscribeRequest(
            workspace_id=workspace_id, id=user_or_anonymous_id, campaign=campaign, resubscribe=subscribed
        )
        await self.stub.Unsubscribe(request, timeout=self.timeout, metadata=self.metadata("Unsubscribe"))

    async def user_sends(self, workspace_id: str, user_or_anonymous_id: str, limit: int = 50) -> list[campaign_pb2.SendSummary]:
        """A user's sends (of every profile merged into it), newest first, with campaign names."""
        request = campaign_pb2.ListSendsRequest(workspace_id=workspace_id, user_id=user_or_anonymous_id, limit=limit)
        response = await self.stub.ListSends(request, timeout=self.timeout, metadata=self.metadata("ListSends"))
        return list(response.sends)

    async def campaign_names(self, workspace_id: str) -> dict[str, str]:
        """Every campaign of the workspace: id -> name."""
        request = campaign_pb2.ListCampaignsRequest(workspace_id=workspace_id)
        response = await self.stub.ListCampaigns(request, timeout=self.timeout, metadata=self.metadata("ListCampaigns"))
        return {c.id: c.name for c in response.campaigns}

    async def explain(self, workspace_id: str, user_or_anonymous_id: str, *, campaign: str = "",
                      trigger_event_id: str = "", limit: int = 0) -> campaign_pb2.ExplainResponse:
        """The user's campaign entries, newest first, with campaign's steps of each (herald explain)."""
        request = campaign_pb2.ExplainRequest(workspace_id=workspace_id, user_id=user_or_anonymous_id,
                                              campaign=campaign, trigger_event_id=trigger_event_id, limit=limit)
        return await self.stub.Explain(request, timeout=self.timeout, metadata=self.metadata("Explain"))

    async def forget_profiles(self, workspace_id: str, profile_ids: list[str]) -> int:
        """A privacy deletion: the decision steps of these profiles; how many rows went."""
        request = campaign_pb2.ForgetProfilesRequest(workspace_id=workspace_id, profile_ids=profile_ids)
        response = await self.stub.ForgetProfiles(request, timeout=self.timeout, metadata=self.metadata("ForgetProfiles"))
        return response.deleted


class DeliveryClient(_Client):
    stub_class = delivery_pb2_grpc.DeliveryServiceStub
    service = access.DELIVERY

    async def schedule(self, sends) -> delivery_pb2.ScheduleResponse:
        """Schedules sends (ScheduledSend messages); a send id seen before keeps its first schedule."""
        request = delivery_pb2.ScheduleRequest(sends=sends)
        return await self.stub.Schedule(request, timeout=self.timeout, metadata=self.metadata("Schedule"))

    async def cancel(
        self, *, send_id: str = "", campaign_id: str = "", profile_id: str = "", reason: str = ""
    ) -> int:
        """Cancels sends that have not gone out (no provider accepted them), by exactly one of send,
        campaign or profile; how many."""
        targets = {"send_id": send_id, "campaign_id": campaign_id, "profile_id": profile_id}
        given = {name: value for name, value in targets.items() if value}
        if len(given) != 1:
            raise ValueError("cancel takes exactly one of send_id, campaign_id, profile_id")
        request = delivery_pb2.CancelRequest(reason=reason, **given)
        response = await self.stub.Cancel(request, timeout=self.timeout, metadata=self.metadata("Cancel"))
        return response.cancelled

    async def cancel_sends(self, send_ids: list[str], *, reason: str = "") -> int:
        """Cancels these sends (those that have not gone out) in one call; how many were cancelled."""
        request = delivery_pb2.CancelSendsRequest(send_ids=send_ids, reason=reason)
        response = await self.stub.CancelSends(request, timeout=self.timeout, metadata=self.metadata("CancelSends"))
        return response.cancelled

    async def get_send(self, send_id: str, *, workspace_id: str = "") -> delivery_pb2.ScheduledSend:
        """The send; with workspace_id, NOT_FOUND for a send of another workspace."""
        request = delivery_pb2.GetSendRequest(send_id=send_id, workspace_id=workspace_id)
        return await self.stub.GetSend(request, timeout=self.timeout, metadata=self.metadata("GetSend"))

    async def list_sends(
        self, *, workspace_id: str = "", campaign_id: str = "", profile_id: str = "", limit: int = 100,
        status: str = "", channel: str = "", before: str = "",
    ) -> delivery_pb2.ListSendsResponse:
        """Newest first, optionally of one status or channel; `before` is an earlier next_before."""
        request = delivery_pb2.ListSendsRequest(
            workspace_id=workspace_id, campaign_id=campaign_id, profile_id=profile_id, limit=limit,
            status=status, channel=channel, before=before,
        )
        return await self.stub.ListSends(request, timeout=self.timeout, metadata=self.metadata("ListSends"))

    async def release(self, campaign_id: str) -> delivery_pb2.ReleaseResponse:
        """The campaign resumed: its held sends go out again, spread over time."""
        request = delivery_pb2.ReleaseRequest(campaign_id=campaign_id)
        return await self.stub.Release(request, timeout=self.timeout, metadata=self.metadata("Release"))

    async def explain(self, workspace_id: str, profile_ids: list[str], *, send_ids: list[str] | None = None,
                      campaign_id: str = "") -> delivery_pb2.ExplainResponse:
        """Delivery's steps of these profiles' sends (only `send_ids` when given), in order."""
        request = delivery_pb2.ExplainRequest(workspace_id=workspace_id, profile_ids=profile_ids,
                                              send_ids=send_ids or [], campaign_id=campaign_id)
        return await self.stub.Explain(request, timeout=self.timeout, metadata=self.metadata("Explain"))

    async def forget_profiles(self, workspace_id: str, profile_ids: list[str]) -> int:
        """A privacy deletion: delivery's steps of these profiles; how many rows went."""
        request = delivery_pb2.ForgetProfilesRequest(workspace_id=workspace_id, profile_ids=profile_ids)
        response = await self.stub.ForgetProfiles(request, timeout=self.timeout, metadata=self.metadata("ForgetProfiles"))
        return response.deleted
