"""identity's servicer: proto <-> domain, nothing else."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from herald.identity.v1 import identity_pb2, identity_pb2_grpc
from herald_common.aio import BlockingRunner, GroupCommit
import grpc
from herald_common.clients import CampaignClient, DeliveryClient, IngestClient
from herald_common.clock import Clock
from herald_common.db import session_scope
from herald_common.errors import FieldError, InvalidArgument, Unavailable
from herald_common.metrics import count_identity_calls
from herald_common.protoconv import json_bytes, json_object, set_timestamp, to_datetime
from herald_services.identity import handlers
from sqlalchemy import Engine


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(
        self,
        *,
        engine: Engine,
        runner: BlockingRunner,
        clock: Clock,
        default_region: str,
        ingest: Callable[[], IngestClient | None],
        campaign: Callable[[], CampaignClient | None] = lambda: None,
        delivery: Callable[[], DeliveryClient | None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.clock = clock
        self.default_region = default_region
        self.ingest = ingest
        # Who else keeps a record of the user that a privacy deletion must remove: the decision
        # steps of herald explain, in campaign and in delivery.
        self.campaign = campaign
        self.delivery = delivery
        self.writer = GroupCommit(runner, self._write_many)

    def _write_many(self, items):
        """Several identify/alias/group/resolve requests in one transaction, in arrival order."""
        with self.engine.begin() as connection:
            return [handler(connection, **kwargs) for handler, kwargs in items]

    async def _batch_write(self, handler, **kwargs):
        return await self.writer.submit((handler, kwargs))

    async def _unit_of_work(self, handler, **kwargs):
        def work():
            with session_scope(self.engine) as session:
                return handler(session, **kwargs)

        return await self.runner.run(work)

    async def EnsureWorkspace(self, request, context):
        for attempt in (1, 2):
            try:
                workspace = await self._unit_of_work(
                    handlers.ensure_workspace,
                    workspace_id=request.id,
                    name=request.name,
                    write_key=request.write_key,
                    now=self.clock.now(),
                )
                break
            except IntegrityError:
                # Two replicas (or herald up and a gateway) created it at the same moment: the
                # second try finds the row the other one committed.
                if attempt == 2:
                    raise
        return identity_pb2.Workspace(id=workspace.id, name=workspace.name, write_key=workspace.write_key)

    async def GetWorkspaceByWriteKey(self, request, context):
        workspace = await self._unit_of_work(handlers.workspace_by_write_key, write_key=request.write_key)
        return identity_pb2.Workspace(id=workspace.id, name=workspace.name, write_key=workspace.write_key)

    async def ListWorkspaces(self, request, context):
        workspaces = await self._unit_of_work(handlers.list_workspaces)
        return identity_pb2.ListWorkspacesResponse(
            workspaces=[identity_pb2.Workspace(id=id_, name=name) for id_, name in workspaces]
        )

    async def Identify(self, request, context):
        now = self.clock.now()
        calls, errors = [], []
        for index, call in enumerate(request.calls):
            try:
                traits = json_object(call.traits_json, "traits")
                ctx = json_object(call.context_json, "context")
            except ValueError as error:
                errors.append(FieldError(f"calls[{index}]", str(error)))
                continue
            calls.append(
                handlers.IdentifyCommand(
                    user_id=call.user_id or None,
                    anonymous_id=call.anonymous_id or None,
                    traits=traits,
                    context=ctx,
                    timestamp=to_datetime(call.timestamp, now),
                    message_id=call.message_id,
                )
            )
        if errors:
            raise InvalidArgument(errors=errors)
        outcomes = await self._batch_write(
            handlers.identify,
            workspace_id=request.workspace_id,
            calls=calls,
            default_region=self.default_region,
            now=now,
        )
        count_identity_calls("identify", len(calls))
        response = identity_pb2.IdentifyResponse()
        add = response.results.add  # built in place: no per-result copy
        for outcome in outcomes:
            result = add(profile_id=outcome.profile_id)
            for refusal in outcome.rejected:
                result.rejected.add(field=refusal.field, reason=refusal.reason)
        return response

    async def Alias(self, request, context):
        now = self.clock.now()
        calls = [
            handlers.AliasCommand(previous_id=c.previous_id, user_id=c.user_id, timestamp=to_datetime(c.timestamp, now))
            for c in request.calls
        ]
        profile_ids = await self._batch_write(handlers.alias, workspace_id=request.workspace_id, calls=calls, now=now)
        count_identity_calls("alias", len(calls))
        return identity_pb2.AliasResponse(results=[identity_pb2.AliasResult(profile_id=p) for p in profile_ids])

    async def Group(self, request, context):
        now = self.clock.now()
        calls = []
        for index, c in enumerate(request.calls):
            try:
                traits = json_object(c.traits_json, f"calls[{index}].traits")
            except ValueError as error:
                raise InvalidArgument(errors=[FieldError(f"calls[{index}].traits", str(error))]) from None
            calls.append(
                handlers.GroupCommand(
                    group_id=c.group_id,
                    user_id=c.user_id or None,
                    anonymous_id=c.anonymous_id or None,
                    traits=traits,
                    timestamp=to_datetime(c.timestamp, now),
                )
            )
        await self._batch_write(handlers.group, workspace_id=request.workspace_id, calls=calls, now=now)
        count_identity_calls("group", len(calls))
        return identity_pb2.GroupResponse()

    async def Resolve(self, request, context):
        refs = [handlers.UserRef(r.user_id or None, r.anonymous_id or None) for r in request.refs]
        answers = await self._batch_write(
            handlers.resolve,
            workspace_id=request.workspace_id,
            refs=refs,
            create_missing=request.create_missing,
            now=self.clock.now(),
        )
        count_identity_calls("resolve", len(refs))
        return identity_pb2.ResolveResponse(
            users=[identity_pb2.ResolvedUser(profile_id=a[0], user_id=a[1]) if a else identity_pb2.ResolvedUser() for a in answers]
        )

    async def GetUser(self, request, context):
        view = await self._unit_of_work(
            handlers.get_user,
            workspace_id=request.workspace_id,
            some_id=request.id,
            profile_id=request.profile_id,
        )
        return user_message(view)

    async def GetUsers(self, request, context):
        if not request.workspace_id:
            raise InvalidArgument(errors=[FieldError("workspace_id", "is required")])
        if len(request.profile_ids) > 5000:
            raise InvalidArgument(errors=[FieldError("profile_ids", "at most 5000 at once")])
        users = await self._unit_of_work(handlers.get_users, workspace_id=request.workspace_id,
                                         profile_ids=list(request.profile_ids))
        response = identity_pb2.GetUsersResponse(
            missing_profile_ids=[p for p in request.profile_ids if p not in users])
        for profile_id, user in users.items():
            item = response.users[profile_id]
            item.profile_id, item.user_id, item.attributes_json = user.profile_id, user.user_id, user.attributes_json.encode()
            for kind, token, last_seen in user.devices:
                device = item.devices.add(kind=kind, token=token)
                set_timestamp(device.last_seen, last_seen)
        return response

    async def DeleteUser(self, request, context):
        profile_ids = await self._unit_of_work(
            handlers.profile_ids_for_deletion, workspace_id=request.workspace_id, some_id=request.id
        )
        # Events first: if ingest cannot be reached the profile stays, and a retry finishes the job.
        ingest = self.ingest()
        events_deleted = await ingest.purge_user_events(request.workspace_id, profile_ids) if ingest else 0
        for service, client in (("campaign", self.campaign()), ("delivery", self.delivery())):
            if client is None:
                continue
            try:
                await client.forget_profiles(request.workspace_id, profile_ids)
            except grpc.aio.AioRpcError as error:
                raise Unavailable(
                    f"{service} could not be asked to remove the user's decision steps ({error.code().name}); "
                    "the user is not deleted yet: run the deletion again"
                ) from None
        await self._unit_of_work(handlers.delete_profiles, workspace_id=request.workspace_id, profile_ids=profile_ids)
        return identity_pb2.DeleteUserResponse(profile_ids=profile_ids, events_deleted=events_deleted)

    async def SearchUsers(self, request, context):
        if request.limit < 0:
            raise InvalidArgument(errors=[FieldError("limit", "must not be negative")])
        found = await self._unit_of_work(
            handlers.search_users, workspace_id=request.workspace_id, query=request.query, limit=request.limit
        )
        response = identity_pb2.SearchUsersResponse()
        for view, how in found:
            response.matches.add(user=user_message(view), matched=how, email=view.profile.email or "")
        return response

    async def RemoveDevice(self, request, context):
        removed = await self._unit_of_work(
            handlers.remove_device, workspace_id=request.workspace_id, kind=request.kind, token=request.token
        )
        return identity_pb2.RemoveDeviceResponse(removed=removed)


def user_message(view: handlers.UserView) -> identity_pb2.User:
    profile = view.profile
    message = identity_pb2.User(
        profile_id=profile.id,
        user_id=profile.user_id or "",
        anonymous_ids=view.anonymous_ids,
        attributes_json=json_bytes(profile.attributes),
        merged_profile_ids=view.merged_profile_ids,
        group_ids=view.group_ids,
    )
    for device in view.devices:
        item = message.devices.add(kind=device.kind, token=device.token)
        set_timestamp(item.last_seen, device.last_seen)
    set_timestamp(message.created_at, profile.created_at)
    set_timestamp(message.updated_at, profile.updated_at)
    return message
