"""campaign's servicer: proto <-> handlers, and the background loops that keep delivery told.

Database work runs through the runner (inline on SQLite, a thread pool on PostgreSQL); calls to
identity and delivery are made outside any transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import orjson
from herald.campaign.v1 import campaign_pb2, campaign_pb2_grpc
from herald.delivery.v1 import delivery_pb2
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2
from herald_common import metrics
from herald_common.aio import read_in, write_in
from herald_common.clients import DeliveryClient, IdentityClient, IngestClient
from herald_common.clock import Clock
from herald_common.errors import FieldError, InvalidArgument, NotFound, Unavailable
from herald_common.logs import get_logger
from herald_common.steps import StepLog
from herald_common.protoconv import set_timestamp, to_datetime
from herald_services.campaign import experiments, handlers, overview
from herald_services.campaign import explain as explaining
from herald_services.campaign.catalogue import Catalogue, KnownCampaign
from herald_services.campaign.limits import WorkspaceSettings, minutes_to_clock
from herald_services.campaign.simulation import SimEvent, Simulation, SimulationResult, SimUser
from herald_services.campaign.spec import check_campaign
from sqlalchemy import Engine

log = get_logger(__name__)

HANDOFF_BATCH = 500
HANDOFF_GRACE_SECONDS = 5.0  # a send this new may still be on its first way to delivery
ACK_FLUSH_SECONDS = 0.25
PRUNE_INTERVAL_SECONDS = 300.0
PRUNE_ROUND_ROWS = 50_000  # herald_common.steps.prune_steps' bound per call


def _minutes_to_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class CampaignServicer(campaign_pb2_grpc.CampaignServiceServicer):
    def __init__(
        self,
        *,
        engine: Engine,
        runner,
        clock: Clock,
        identity: IdentityClient,
        delivery: DeliveryClient,
        settle_seconds: int,
        rpc_timeout: float,
        explain: bool = True,
        explain_retention_seconds: float = 30 * 86400.0,
        ingest: IngestClient | None = None,
        default_timezone: str | None = None,
    ) -> None:
        self.engine = engine
        self.ingest = ingest  # read by Simulate only
        self.default_timezone = default_timezone  # HERALD_DEFAULT_TIMEZONE, as delivery reads windows
        self.runner = runner
        self.clock = clock
        self.identity = identity
        self.delivery = delivery
        self.settle = timedelta(seconds=settle_seconds)
        self.timeout = rpc_timeout
        self.explain = explain  # record decision steps (HERALD_EXPLAIN)
        self.explain_retention_seconds = explain_retention_seconds  # HERALD_EXPLAIN_RETENTION
        self.catalogue = Catalogue()
        self._handoff_wake = asyncio.Event()
        # Delivery's acknowledgements, written in one transaction every ACK_FLUSH_SECONDS rather
        # than one per hand-over (a crash before the write only makes a repeat hand-over, which
        # delivery ignores: it keeps the first Schedule of a send id).
        self._acked: dict[str, Any] = {}
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()

    # ---- lifecycle ----------------------------------------------------------------------

    def load(self) -> None:
        with self.engine.connect() as connection:
            self.catalogue.load(connection)

    @property
    def shared_database(self) -> bool:
        """PostgreSQL: other campaign replicas may change campaigns. A SQLite file has one."""
        return self.engine.dialect.name != "sqlite"

    def _refresh(self) -> bool:
        with self.engine.connect() as connection:
            return self.catalogue.refresh_if_changed(connection)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._handoff_loop(), name="campaign-handoff"),
            asyncio.create_task(self._refresh_loop(), name="campaign-refresh"),
            asyncio.create_task(self._ack_loop(), name="campaign-handoff-acks"),
            asyncio.create_task(self._prune_steps_loop(), name="campaign-prune-steps"),
        ]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        try:
            await self._flush_acks()
        except Exception:  # the next start hands those sends over again; delivery keeps the first
            log.warning("handoff_acks_not_written", sends=len(self._acked))

    async def _tx(self, fn, *args, **kwargs):
        return await write_in(self.runner, self.engine, fn, *args, **kwargs)

    # ---- campaigns ----------------------------------------------------------------------

    def _campaign(self, known: KnownCampaign, source_yaml: str = "") -> campaign_pb2.Campaign:
        message = campaign_pb2.Campaign(
            id=known.id, workspace_id=known.workspace_id, name=known.name, status=known.status,
            version=known.version, trigger_event=known.trigger_event, source_yaml=source_yaml,
        )
        set_timestamp(message.created_at, known.created_at)
        set_timestamp(message.updated_at, known.updated_at)
        return message

    async def ApplyCampaign(self, request, context):
        if not request.source_yaml.strip():
            raise InvalidArgument("source_yaml: the campaign file is empty")
        applied = await self._tx(
            handlers.apply_campaign, self.catalogue, workspace_id=request.workspace_id or "default",
            source_yaml=request.source_yaml, file_name=request.file_name, now=self.clock.now(), draft=request.draft,
        )
        log.info("campaign_applied", campaign=applied.campaign.name, version=applied.campaign.version,
                 created=applied.created, changed=applied.changed,
                 warnings=[str(warning) for warning in applied.warnings])
        return campaign_pb2.ApplyCampaignResponse(
            campaign=self._campaign(applied.campaign, request.source_yaml), created=applied.created,
            changed=applied.changed,
            warnings=[campaign_pb2.ApplyWarning(field=w.field, reason=w.reason) for w in applied.warnings],
        )

    async def GetCampaign(self, request, context):
        known, source = await self._tx(handlers.get_campaign, self.catalogue, request.workspace_id or "default", request.name)
        return self._campaign(known, source)

    async def ListCampaigns(self, request, context):
        rows = await self._tx(handlers.list_campaigns, request.workspace_id or "default")
        response = campaign_pb2.ListCampaignsResponse()
        for row in rows:
            item = response.campaigns.add(
                id=row["id"], workspace_id=row["workspace_id"], name=row["name"], status=row["status"],
                version=row["version"], trigger_event=row["trigger_event"],
            )
            set_timestamp(item.created_at, row["created_at"])
            set_timestamp(item.updated_at, row["updated_at"])
        return response

    async def _set_status(self, request, status: str) -> KnownCampaign:
        return await self._tx(
            handlers.set_status, self.catalogue, workspace_id=request.workspace_id or "default", name=request.name,
            status=status, now=self.clock.now(),
        )

    async def PauseCampaign(self, request, context):
        known = await self._set_status(request, "paused")
        log.info("campaign_paused", campaign=known.name)
        return self._campaign(known)

    async def ResumeCampaign(self, request, context):
        known = await self._set_status(request, "live")
        await self._release(known, "live again")
        log.info("campaign_resumed", campaign=known.name)
        return self._campaign(known)

    async def ArchiveCampaign(self, request, context):
        known = await self._set_status(request, "archived")
        await self._release(known, "archived")  # held sends come back to be suppressed
        log.info("campaign_archived", campaign=known.name)
        return self._campaign(known)

    async def _release(self, known: KnownCampaign, what: str) -> None:
        try:
            response = await self.delivery.stub.Release(
                delivery_pb2.ReleaseRequest(campaign_id=known.id),
                timeout=self.timeout,
                metadata=self.delivery.metadata("Release"),
            )
        except grpc.aio.AioRpcError as error:
            raise Unavailable(
                f"campaign {known.name!r} is {what}, but delivery could not be told to release its held sends "
                f"({error.code().name}: {error.details()}); run the command again once delivery is up"
            ) from None
        log.info("held_sends_released", campaign=known.name, released=response.released, stale=response.stale)

    async def GetCampaignStats(self, request, context):
        stats = await self._tx(handlers.campaign_stats, self.catalogue, request.workspace_id or "default", request.name)
        response = campaign_pb2.CampaignStats(
            name=stats.name, status=stats.status, triggered=stats.triggered, scheduled=stats.scheduled,
            sent=stats.sent, failed=stats.failed, suppressed=stats.suppressed, cancelled=stats.cancelled,
            unknown=stats.unknown, held_out=stats.held_out, holdout=stats.holdout,
            min_group_size=experiments.MIN_GROUP_SIZE,
        )
        response.suppressed_by_reason.update(stats.suppressed_by_reason)
        response.not_entered.update(stats.not_entered)
        response.held_out_by_group.update(stats.held_out_by_group)
        for goal in stats.goals:
            item = response.goals.add(
                name=goal["name"], primary=goal["primary"], conversions=goal["conversions"], rate=goal["rate"],
                treatment_conversions=goal["treatment_conversions"], treatment_rate=goal["treatment_rate"],
                control_conversions=goal["control_conversions"], control_rate=goal["control_rate"],
                enough_data=goal["enough_data"],
            )
            for name in ("average_seconds_to_convert", "lift", "confidence"):
                if goal[name] is not None:
                    setattr(item, name, goal[name])
        for variant in stats.variants:
            item = response.variants.add(name=variant["name"], weight=variant["weight"] or 0, sent=variant["sent"])
            for goal in variant["goals"]:
                entry = item.goals.add(name=goal["name"], conversions=goal["conversions"], rate=goal["rate"])
                if goal["chance_to_beat_first"] is not None:
                    entry.chance_to_beat_first = goal["chance_to_beat_first"]
        return response

    async def PromoteVariant(self, request, context):
        applied = await self._tx(handlers.promote_variant, self.catalogue, workspace_id=request.workspace_id or "default",
                                 name=request.name, variant=request.variant, now=self.clock.now())
        log.info("variant_promoted", campaign=request.name, variant=request.variant, version=applied.campaign.version)
        return campaign_pb2.ApplyCampaignResponse(
            campaign=self._campaign(applied.campaign), created=False, changed=applied.changed,
        )

    async def GetUserExperiments(self, request, context):
        if not (request.user_id or request.profile_id):
            raise InvalidArgument("user_id: a user id or a profile id is required")
        found = await self._tx(handlers.user_experiments, self.catalogue, workspace_id=request.workspace_id or "default",
                               user_id=request.user_id, profile_id=request.profile_id)
        response = campaign_pb2.UserExperiments(global_control=found.global_control,
                                                global_control_text=found.global_control_text)
        for campaign, group, variant in found.campaigns:
            response.campaigns.add(campaign=campaign, group=group, variant=variant)
        return response

    # ---- events -------------------------------------------------------------------------

    async def OnEvents(self, request, context):
        if self.shared_database:
            # Another replica may have applied a campaign a moment ago: never judge events
            # against a catalogue older than what is committed.
            await self.runner.run(self._refresh)
        catalogue = self.catalogue
        explaining = self.explain
        relevant = [event for event in request.events
                    if catalogue.relevant(event.workspace_id, event.name, explaining=explaining)]
        if relevant:
            incoming = [
                handlers.IncomingEvent(
                    id=event.id, workspace_id=event.workspace_id, name=event.name, profile_id=event.profile_id,
                    user_id=event.user_id, properties=(properties := _properties(event.properties_json)),
                    properties_json=event.properties_json.decode() if properties and event.properties_json else None,
                    timestamp=to_datetime(event.timestamp), received_at=to_datetime(event.received_at),
                )
                for event in relevant
            ]
            outcome = await self._tx(handlers.process_events, catalogue, incoming, now=self.clock.now(),
                                     settle=self.settle, steps=StepLog(explaining))
            _count_decisions(outcome)
            if outcome.new_sends:
                self._spawn(self._hand_off(outcome.new_sends))
            if outcome.cancelled:
                self._spawn(self._cancel_in_delivery(outcome.cancelled))
            if outcome.cancel_in_delivery:
                by_event: dict[str, list[str]] = {}
                for send_id, name in outcome.cancel_in_delivery.items():
                    by_event.setdefault(name, []).append(send_id)
                for name, send_ids in by_event.items():
                    self._spawn(self._cancel_in_delivery(send_ids, reason=f"cancel_if: {name}"))
        return campaign_pb2.OnEventsResponse(accepted=len(request.events))

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- handing sends to delivery ------------------------------------------------------

    def _spec(self, campaign_id: str, version: int):
        known = self.catalogue.by_id.get(campaign_id)
        if known is not None and known.version == version:
            return known.spec
        with self.engine.connect() as connection:
            return self.catalogue.spec(connection, campaign_id, version)

    def _scheduled(self, send: dict[str, Any]) -> delivery_pb2.ScheduledSend:
        spec = self._spec(send["campaign_id"], send["version"])
        message = delivery_pb2.ScheduledSend(
            id=send["id"], workspace_id=send["workspace_id"], campaign_id=send["campaign_id"],
            profile_id=send["profile_id"], user_id=send["user_id"], channel=send["channel"],
            delay_seconds=int(spec.delay.total_seconds()),
            settle_seconds=int(self.settle.total_seconds()) if spec.filters is not None else 0,
        )
        set_timestamp(message.trigger_at, send["trigger_at"])
        window = spec.delivery_window
        if window is not None:
            message.window.days.extend(window.days)
            message.window.start = _minutes_to_clock(window.start)
            message.window.end = _minutes_to_clock(window.end)
            message.window.fallback_timezone = window.fallback_timezone or ""
        return message

    async def _hand_off(self, sends: list[dict[str, Any]]) -> bool:
        request = delivery_pb2.ScheduleRequest(sends=[self._scheduled(send) for send in sends])
        try:
            response = await self.delivery.stub.Schedule(
                request, timeout=self.timeout, metadata=self.delivery.metadata("Schedule")
            )
        except grpc.aio.AioRpcError as error:
            log.warning("delivery_schedule_failed", sends=len(sends), code=error.code().name, detail=error.details())
            self._handoff_wake.set()
            return False
        ours = {send["id"]: send["due_at"] for send in sends}
        for send in response.sends:
            due = to_datetime(send.due_at)
            # None: delivery kept the due time campaign computed (nothing to write but the ack).
            self._acked[send.id] = None if due is None or due == ours.get(send.id) else due
        return True

    async def _flush_acks(self) -> None:
        if self._acked:
            acked, self._acked = self._acked, {}
            try:
                await self._tx(handlers.mark_handed_off, acked)
            except Exception:
                self._acked = {**acked, **self._acked}
                raise

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(ACK_FLUSH_SECONDS)
            try:
                await self._flush_acks()
            except Exception:
                log.exception("handoff_ack_write_failed")

    async def _handoff_loop(self) -> None:
        """Sends delivery did not acknowledge are handed over again until it does (durable)."""
        while True:
            try:
                await asyncio.wait_for(self._handoff_wake.wait(), timeout=2.0)
            except TimeoutError:
                pass
            self._handoff_wake.clear()
            await asyncio.sleep(0.5)
            try:
                before = self.clock.now() - timedelta(seconds=HANDOFF_GRACE_SECONDS)
                while pending := await self._tx(handlers.pending_handoff, HANDOFF_BATCH, before=before):
                    if not await self._hand_off(pending):
                        break
                    if len(pending) < HANDOFF_BATCH:
                        break
            except Exception:  # keep the loop alive; the next round tries again
                log.exception("handoff_round_failed")

    async def _cancel_in_delivery(self, send_ids: Iterable[str], reason: str = "cancel_if") -> None:
        """A batch's cancel_if cancels go to delivery in one call. For a send Confirm already
        said go to, delivery's report (cancelled, or sent when a provider took it first) is
        what settles it here."""
        send_ids = list(send_ids)
        try:
            await self.delivery.cancel_sends(send_ids, reason=reason)
        except grpc.aio.AioRpcError as error:
            # Confirm answers "cancelled" for them anyway when delivery asks.
            log.warning("delivery_cancel_failed", sends=len(send_ids), code=error.code().name)

    async def _refresh_loop(self) -> None:
        """Another replica may have applied or paused a campaign; prune old dedup rows and goal
        events parked for a MarkSent that never came."""
        rounds = 0
        while True:
            await asyncio.sleep(2.0)
            rounds += 1
            try:
                await self.runner.run(self._refresh)
                if rounds % 1800 == 0:
                    await self._tx(handlers.prune_processed, before=self.clock.now() - timedelta(days=8))
                    await self._tx(handlers.prune_parked, before=self.clock.now() - handlers.PARKED_KEEP)
            except Exception:
                log.exception("campaign_refresh_failed")

    async def prune_steps(self) -> int:
        """One round of the retention prune: decision steps older than HERALD_EXPLAIN_RETENTION
        (by this service's clock) go, a bounded number of rows per round."""
        return await self._tx(explaining.prune, now=self.clock.now(), retention_seconds=self.explain_retention_seconds)

    async def _prune_steps_loop(self) -> None:
        while True:
            try:
                deleted = await self.prune_steps()
                if deleted:
                    log.info("decision_steps_pruned", rows=deleted)
            except Exception:  # the next round carries on
                log.exception("decision_step_prune_failed")
                deleted = 0
            # A round that hit its row bound goes again soon; otherwise once every few minutes.
            await asyncio.sleep(1.0 if deleted >= PRUNE_ROUND_ROWS else PRUNE_INTERVAL_SECONDS)

    # ---- Confirm and MarkSent -----------------------------------------------------------

    async def _profile(self, workspace_id: str, profile_id: str) -> dict[str, Any] | None:
        request = identity_pb2.GetUserRequest(workspace_id=workspace_id, profile_id=profile_id)
        try:
            user = await self.identity.stub.GetUser(
                request, timeout=self.timeout, metadata=self.identity.metadata("GetUser")
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"identity could not be asked for the user ({error.code().name})") from None
        return {
            "user_id": user.user_id,
            "attributes": orjson.loads(user.attributes_json) if user.attributes_json else {},
            "devices": [(device.kind, device.token) for device in user.devices],
        }

    def _answer(self, decision: handlers.Decision) -> campaign_pb2.ConfirmResponse:
        response = campaign_pb2.ConfirmResponse(
            go=decision.go, suppress_reason=decision.reason, hold=decision.hold, timezone=decision.timezone,
            workspace_id=decision.workspace_id, user_id=decision.user_id, held_out=decision.held_out,
            variant=decision.variant,
        )
        if decision.message is not None:
            response.message.CopyFrom(rendered_message(decision.message))
        for address in decision.addresses:
            response.addresses.add(kind=address.kind, value=address.value)
        if decision.go:
            policy = response.policy
            policy.transactional = decision.transactional
            policy.on_cap = decision.on_cap
            fill_limits(policy, decision.settings)
        metrics.count_campaign_decision("confirmed" if decision.go else "refused")
        return response

    async def Confirm(self, request, context):
        send = await self._tx(handlers.send_for_confirm, request.send_id)
        user = await self._profile(send["workspace_id"], send["profile_id"])
        decision = await self._tx(self._confirm_one, send, user, self.clock.now())
        log.info("send_confirmed", send_id=request.send_id, go=decision.go, reason=decision.reason, hold=decision.hold)
        return self._answer(decision)

    async def ConfirmBatch(self, request, context):
        """Confirm for many sends: their rows in one read, each user asked of identity once (all
        at the same time), every decision in one transaction."""
        ids = list(request.send_ids)
        sends = await self._tx(handlers.sends_for_confirm, ids)
        profiles = {(send["workspace_id"], send["profile_id"]) for send in sends.values()}
        keys = list(profiles)
        found = await asyncio.gather(*(self._profile(ws, profile) for ws, profile in keys), return_exceptions=True)
        users = dict(zip(keys, found))
        now = self.clock.now()

        def decide(connection):
            decisions = {}
            settings = handlers.settings_of(connection, (send["workspace_id"] for send in sends.values()))
            steps = StepLog(self.explain)
            for send_id, send in sends.items():
                user = users[(send["workspace_id"], send["profile_id"])]
                if isinstance(user, BaseException):
                    decisions[send_id] = f"unavailable: {user}"
                else:
                    decisions[send_id] = handlers.confirm(connection, self.catalogue, send, user=user, now=now,
                                                          settings=settings[send["workspace_id"]], steps=steps)
            steps.write(connection, handlers.STEPS)
            return decisions

        decisions = await self._tx(decide)
        response = campaign_pb2.ConfirmBatchResponse()
        for send_id in ids:
            decision = decisions.get(send_id)
            if decision is None:
                response.results.add(send_id=send_id, error="not_found")
            elif isinstance(decision, str):
                response.results.add(send_id=send_id, error=decision)
            else:
                response.results.add(send_id=send_id, answer=self._answer(decision))
        log.info("sends_confirmed", sends=len(ids), go=sum(1 for d in decisions.values() if getattr(d, "go", False)))
        return response

    def _confirm_one(self, connection, send, user, now) -> handlers.Decision:
        steps = StepLog(self.explain)
        decision = handlers.confirm(connection, self.catalogue, send, user=user, now=now, steps=steps)
        steps.write(connection, handlers.STEPS)
        return decision

    async def MarkSent(self, request, context):
        await self._tx(self._mark_one, request, self.clock.now())
        return campaign_pb2.MarkSentResponse()

    def _mark_one(self, connection, request, now) -> None:
        steps = StepLog(self.explain)
        self._mark(connection, request, now, steps)
        steps.write(connection, handlers.STEPS)

    def _mark(self, connection, request, now, steps: StepLog) -> None:
        status = request.status or ("failed" if request.failed else "sent")
        handlers.mark_sent(
            connection, self.catalogue, send_id=request.send_id, status=status, outcome=request.outcome,
            sent_at=to_datetime(request.sent_at), due_at=to_datetime(request.due_at), now=now, steps=steps,
        )

    async def MarkSentBatch(self, request, context):
        """Many outcomes in one transaction; an unknown send id is listed back, never fails the rest."""
        now = self.clock.now()

        def mark_all(connection):
            known = handlers.sends_for_confirm(connection, list({r.send_id for r in request.reports}))
            unknown = []
            steps = StepLog(self.explain)
            # In send id order (stable: one send's reports keep theirs), the order OnEvents locks
            # sends on their way in when it parks goal events: two transactions never wait on
            # each other's rows crosswise on PostgreSQL.
            for report in sorted(request.reports, key=lambda r: r.send_id):
                if report.send_id in known:
                    self._mark(connection, report, now, steps)
                else:
                    unknown.append(report.send_id)
            steps.write(connection, handlers.STEPS)
            return unknown

        unknown = await self._tx(mark_all)
        return campaign_pb2.MarkSentBatchResponse(unknown_send_ids=unknown)

    # ---- simulate -----------------------------------------------------------------------

    async def Simulate(self, request, context):
        workspace_id = request.workspace_id or "default"
        now = self.clock.now()
        since, until = to_datetime(request.since), to_datetime(request.until, now)
        errors = []
        if since is None:
            errors.append(FieldError("since", "is required (the start of the period to replay)"))
        elif since >= until:
            errors.append(FieldError("until", "must be after since"))
        which = request.WhichOneof("campaign")
        if which is None or not getattr(request, which).strip():
            errors.append(FieldError("campaign", "a campaign file (source_yaml) or a stored campaign's name is required"))
        if errors:
            raise InvalidArgument(errors=errors)
        if which == "source_yaml":
            spec, campaign_id = check_campaign(request.source_yaml).spec, ""
        else:
            known, _ = await self._tx(handlers.get_campaign, self.catalogue, workspace_id, request.name)
            spec, campaign_id = known.spec, known.id
        if self.ingest is None:
            raise Unavailable("campaign was started without ingest's address; simulate reads events from it")
        simulation = Simulation(spec, campaign_id=campaign_id or "simulated", settle=self.settle,
                                default_timezone=self.default_timezone)
        result = await self._replay(simulation, workspace_id, campaign_id, since, until)
        log.info("campaign_simulated", campaign=spec.name, events=result.events_replayed, entered=result.entered,
                 would_send=result.would_send, users_in_flight_peak=result.users_in_flight_peak)
        return simulate_response(spec.name, result)

    async def _replay(self, simulation: Simulation, workspace_id: str, campaign_id: str, since, until) -> SimulationResult:
        """Pages of events from ingest, the next one asked for while this one is replayed; the
        users a page triggers are fetched from identity (as they are now) before it is."""
        request = ingest_pb2.ReadEventsRequest(workspace_id=workspace_id, names=sorted(simulation.names), limit=5000,
                                               as_columns=True)
        set_timestamp(request.since, since)
        set_timestamp(request.until, until)

        async def page(cursor: str) -> ingest_pb2.ReadEventsResponse:
            asked = ingest_pb2.ReadEventsRequest()
            asked.CopyFrom(request)
            asked.cursor = cursor
            try:
                return await self.ingest.read_events(asked)
            except grpc.aio.AioRpcError as error:
                raise Unavailable(f"ingest could not be asked for the events ({error.code().name})") from None

        def received(response: ingest_pb2.ReadEventsResponse) -> list[SimEvent]:
            columns = response.columns
            return list(map(SimEvent, map(str, columns.ids), columns.names, columns.profile_ids, columns.user_ids,
                            map(_properties, columns.properties_json), map(_utc_time, columns.timestamps),
                            map(_utc_time, columns.received_at)))

        def fetch(events: list[SimEvent]) -> asyncio.Future:
            unknown = simulation.unknown_users(events)
            return asyncio.ensure_future(
                self._simulated_users(simulation, workspace_id, campaign_id, sorted(unknown)) if unknown
                else asyncio.sleep(0))

        spent = {"waiting_for_ingest": 0.0, "users": 0.0, "replay": 0.0}
        clock = time.perf_counter
        mark = clock()
        response = await page("")
        spent["waiting_for_ingest"] += clock() - mark
        events = received(response)
        users = fetch(events)
        upcoming = None if response.done else asyncio.ensure_future(page(response.next_cursor))
        try:
            while True:
                mark = clock()
                await users
                # A user forgotten since the fetch (their last send ended meanwhile) is asked again.
                await fetch(events)
                spent["users"] += clock() - mark
                following = None
                if upcoming is not None and upcoming.done():
                    # The next page is here: identity looks its users up while this one replays.
                    following = upcoming.result()
                mark = clock()
                if following is not None:
                    next_events = received(following)
                    next_users = fetch(next_events)
                simulation.replay(events, counted=response.counted)
                spent["replay"] += clock() - mark
                if upcoming is None:
                    break
                if following is None:
                    mark = clock()
                    following = await upcoming
                    spent["waiting_for_ingest"] += clock() - mark
                    next_events = received(following)
                    next_users = fetch(next_events)
                response, events, users = following, next_events, next_users
                upcoming = None if response.done else asyncio.ensure_future(page(response.next_cursor))
        finally:
            for pending in (upcoming, users):
                if pending is not None and not pending.done():
                    pending.cancel()
        result = simulation.finish()
        log.info("simulate_timing", **{name: round(seconds, 3) for name, seconds in spent.items()})
        return result

    async def _simulated_users(self, simulation: Simulation, workspace_id: str, campaign_id: str,
                               profile_ids: list[str]) -> None:
        for start in range(0, len(profile_ids), 2000):
            chunk = profile_ids[start:start + 2000]
            try:
                response = await self.identity.get_users(workspace_id, chunk)
            except grpc.aio.AioRpcError as error:
                raise Unavailable(f"identity could not be asked for the users ({error.code().name})") from None
            unsubscribed = await self.runner.run(self._unsubscribed, workspace_id, chunk, campaign_id)
            for profile_id in chunk:
                user = response.users.get(profile_id) if profile_id in response.users else None
                simulation.users[profile_id] = None if user is None else SimUser(
                    user_id=user.user_id, attributes=_properties(user.attributes_json),
                    devices=tuple((d.kind, d.token) for d in user.devices), unsubscribed=profile_id in unsubscribed,
                )

    def _unsubscribed(self, workspace_id: str, profile_ids: list[str], campaign_id: str) -> set[str]:
        with self.engine.connect() as connection:
            return handlers.unsubscribed_among(connection, workspace_id=workspace_id, profile_ids=profile_ids,
                                               campaign_id=campaign_id)

    # ---- sends and unsubscribes ---------------------------------------------------------

    async def _profile_ids(self, workspace_id: str, user_or_anonymous_id: str) -> list[str]:
        try:
            user = await self.identity.get_user(workspace_id, user_or_anonymous_id)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"no user {user_or_anonymous_id!r}") from None
            raise Unavailable(f"identity could not be asked for the user ({error.code().name})") from None
        return [user.profile_id, *user.merged_profile_ids]

    # ---- herald explain -----------------------------------------------------------------

    async def Explain(self, request, context):
        workspace_id = request.workspace_id or "default"
        if not request.user_id:
            raise InvalidArgument(errors=[FieldError("user_id", "a user id or anonymous id is required")])
        if request.limit < 0:
            raise InvalidArgument(errors=[FieldError("limit", "must not be negative")])
        limit = min(request.limit or explaining.DEFAULT_LIMIT, explaining.MAX_LIMIT)
        response = campaign_pb2.ExplainResponse()
        if request.campaign:
            found = await self._read(explaining.campaign_to_explain, workspace_id=workspace_id, name=request.campaign)
            if found is None:
                raise NotFound(f"no campaign named {request.campaign!r} in workspace {workspace_id!r}")
            response.campaign_id, response.trigger_event = found["id"], found["trigger_event"]
        user = await self._user(workspace_id, request.user_id)
        profile_ids = [user.profile_id, *user.merged_profile_ids]
        response.user_id, response.profile_id = user.user_id, user.profile_id
        response.profile_ids.extend(profile_ids)
        entries = await self._read(
            explaining.user_entries, workspace_id=workspace_id, profile_ids=profile_ids, now=self.clock.now(),
            campaign_id=response.campaign_id, trigger_event_id=request.trigger_event_id, limit=limit,
        )
        for entry in entries:
            item = response.entries.add(campaign_id=entry.campaign_id, campaign=entry.campaign,
                                        trigger_event_id=entry.trigger_event_id, send_id=entry.send_id,
                                        status=entry.status)
            set_timestamp(item.triggered_at, entry.triggered_at)
            for step in entry.steps:
                added = item.steps.add(step=step.step, outcome=step.outcome, detail_json=orjson.dumps(step.detail),
                                       send_id=step.send_id)
                set_timestamp(added.at, step.at)
        return response

    async def ForgetProfiles(self, request, context):
        if not request.profile_ids:
            raise InvalidArgument(errors=[FieldError("profile_ids", "name at least one profile")])
        deleted = await self._tx(explaining.forget_profiles, workspace_id=request.workspace_id or "default",
                                 profile_ids=list(request.profile_ids))
        log.info("decision_steps_forgotten", profiles=len(request.profile_ids), rows=deleted)
        return campaign_pb2.ForgetProfilesResponse(deleted=deleted)

    async def _read(self, fn, *args, **kwargs):
        return await read_in(self.runner, self.engine, fn, *args, **kwargs)

    async def _user(self, workspace_id: str, user_or_anonymous_id: str) -> identity_pb2.User:
        try:
            return await self.identity.get_user(workspace_id, user_or_anonymous_id)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"no user {user_or_anonymous_id!r} in workspace {workspace_id!r}") from None
            raise Unavailable(f"identity could not be asked for the user ({error.code().name})") from None

    async def ListSends(self, request, context):
        workspace_id = request.workspace_id or "default"
        campaign_id = None
        if request.campaign:
            campaign_id = await self._tx(handlers.campaign_id_for, workspace_id, request.campaign)
        profile_ids = await self._profile_ids(workspace_id, request.user_id) if request.user_id else None
        limit = request.limit if request.limit > 0 else 100
        rows = await self._tx(handlers.list_sends, workspace_id=workspace_id, campaign_id=campaign_id,
                              profile_ids=profile_ids, limit=limit)
        now = self.clock.now()
        response = campaign_pb2.ListSendsResponse()
        for row in rows:
            item = response.sends.add(
                id=row["id"], campaign=row["campaign_name"], user_id=row["user_id"], channel=row["channel"],
                status=handlers.displayed_status(row, now), outcome=row["outcome"],
            )
            set_timestamp(item.due_at, row["due_at"])
            set_timestamp(item.sent_at, row["sent_at"])
        return response

    async def ApplySettings(self, request, context):
        if not request.source_yaml.strip():
            raise InvalidArgument("source_yaml: the settings file is empty (write {} to clear every setting)")
        applied = await self._tx(handlers.apply_settings, workspace_id=request.workspace_id or "default",
                                 source_yaml=request.source_yaml, file_name=request.file_name, now=self.clock.now())
        log.info("settings_applied", workspace=applied.workspace_id, changed=applied.changed,
                 caps=len(applied.settings.frequency_caps), quiet_hours=applied.settings.quiet_hours is not None)
        return settings_message(applied)

    async def GetSettings(self, request, context):
        applied = await self._tx(handlers.get_settings, request.workspace_id or "default")
        return settings_message(applied)

    async def Unsubscribe(self, request, context):
        workspace_id = request.workspace_id or "default"
        if not request.id:
            raise InvalidArgument("id: a user id or anonymous id is required")
        campaign_id = ""
        if request.campaign:
            campaign_id = await self._tx(handlers.campaign_id_for, workspace_id, request.campaign)
        profile_ids = await self._profile_ids(workspace_id, request.id)
        await self._tx(handlers.unsubscribe, workspace_id=workspace_id, profile_ids=profile_ids,
                       campaign_id=campaign_id, resubscribe=request.resubscribe, now=self.clock.now())
        log.info("unsubscribe", user=request.id, campaign=request.campaign or "*", resubscribe=request.resubscribe)
        return campaign_pb2.UnsubscribeResponse()

    async def GetSubscriptions(self, request, context):
        workspace_id = request.workspace_id or "default"
        if not request.id:
            raise InvalidArgument("id: a user id or anonymous id is required")
        profile_ids = await self._profile_ids(workspace_id, request.id)
        every, names = await self._tx(handlers.subscriptions, workspace_id=workspace_id, profile_ids=profile_ids)
        return campaign_pb2.Subscriptions(unsubscribed_from_all=every, unsubscribed_campaigns=names)


    # ---- what the console reads --------------------------------------------------------

    async def ListCampaignSummaries(self, request, context):
        size = overview.page_size(request.page_size, overview.SUMMARY_PAGE, overview.SUMMARY_PAGE_MAX)
        after = overview.decode_token(request.page_token)
        summaries, last = await self._tx(overview.list_summaries, self.catalogue,
                                         workspace_id=request.workspace_id or "default", after=after, limit=size)
        response = campaign_pb2.ListCampaignSummariesResponse(next_page_token=overview.encode_token(last) if last else "")
        for summary in summaries:
            row = summary.campaign
            item = response.campaigns.add(
                channel=summary.channel, triggered=summary.triggered, sent=summary.sent,
                primary_goal=summary.primary_goal, primary_conversions=summary.primary_conversions,
                primary_rate=summary.primary_rate,
            )
            item.campaign.CopyFrom(campaign_pb2.Campaign(
                id=row["id"], workspace_id=row["workspace_id"], name=row["name"], status=row["status"],
                version=row["version"], trigger_event=row["trigger_event"],
            ))
            set_timestamp(item.campaign.created_at, row["created_at"])
            set_timestamp(item.campaign.updated_at, row["updated_at"])
        return response

    async def ListCampaignVersions(self, request, context):
        size = overview.page_size(request.page_size, overview.VERSION_PAGE, overview.VERSION_PAGE_MAX)
        token = overview.decode_token(request.page_token)
        if token and not token.isdigit():
            raise InvalidArgument("page_token: not a page token this service gave out")
        rows, before = await self._tx(overview.list_versions, self.catalogue, workspace_id=request.workspace_id or "default",
                                      name=request.name, before=int(token) if token else None, limit=size)
        response = campaign_pb2.ListCampaignVersionsResponse(
            next_page_token=overview.encode_token(str(before)) if before is not None else ""
        )
        for row in rows:
            item = response.versions.add(version=row["version"], source_yaml=row["source_yaml"],
                                         file_name=row["file_name"], current=row["current"])
            set_timestamp(item.created_at, row["created_at"])
        return response

    async def GetCampaignDaily(self, request, context):
        if request.days < 0 or request.days > overview.DAYS_MAX:
            raise InvalidArgument(f"days: must be between 1 and {overview.DAYS_MAX} (0: {overview.DAYS})")
        found = await self._tx(overview.daily, self.catalogue, workspace_id=request.workspace_id or "default",
                               name=request.name, days=request.days or overview.DAYS, now=self.clock.now())
        response = campaign_pb2.GetCampaignDailyResponse(primary_goal=found.primary_goal)
        for day, sent, conversions in found.days:
            response.days.add(day=day.isoformat(), sent=sent, conversions=conversions)
        return response

    async def PreviewMessage(self, request, context):
        workspace_id = request.workspace_id or "default"
        warnings: tuple = ()
        if request.source_yaml.strip():
            checked = check_campaign(request.source_yaml)
            spec, warnings = checked.spec, checked.warnings
        elif request.name:
            known, _ = await self._tx(handlers.get_campaign, self.catalogue, workspace_id, request.name)
            spec = known.spec
        else:
            raise InvalidArgument("name: give a campaign's name or its file (source_yaml)")
        if not request.user_id.strip():
            raise InvalidArgument("user_id: the user to preview the message for is required")
        properties: dict[str, Any] = {}
        if request.event_properties_json.strip():
            try:
                properties = orjson.loads(request.event_properties_json)
            except orjson.JSONDecodeError as error:
                raise InvalidArgument(f"event_properties_json: not JSON ({error})") from None
            if not isinstance(properties, dict):
                raise InvalidArgument("event_properties_json: must be a JSON object of the event's properties")
        try:
            user = await self.identity.get_user(workspace_id, request.user_id.strip())
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"no user {request.user_id.strip()!r}") from None
            raise Unavailable(f"identity could not be asked for the user ({error.code().name})") from None
        attributes = orjson.loads(user.attributes_json) if user.attributes_json else {}
        profile = {"user_id": user.user_id or request.user_id.strip(), "attributes": attributes,
                   "devices": [(device.kind, device.token) for device in user.devices]}
        now = self.clock.now()
        event_time = to_datetime(request.event_time) if request.HasField("event_time") else now
        found = overview.preview(spec, user=profile, event_name=request.event_name or spec.trigger.event,
                                 event_properties=properties, event_time=event_time, now=now)
        response = campaign_pb2.PreviewMessageResponse(
            render_error=found.render_error, conditions_hold=found.conditions_hold,
            attributes_json=orjson.dumps(attributes), user_id=profile["user_id"], channel=found.channel,
            warnings=[campaign_pb2.ApplyWarning(field=w.field, reason=w.reason) for w in warnings],
        )
        if found.message is not None:
            response.message.CopyFrom(rendered_message(found.message))
        for address in found.addresses:
            response.addresses.add(kind=address.kind, value=address.value)
        return response


def rendered_message(rendered) -> campaign_pb2.RenderedMessage:
    """A rendered message as delivery receives it (Confirm) and the console previews it."""
    return campaign_pb2.RenderedMessage(
        channel=rendered.channel, subject=rendered.subject,
        body=rendered.text if rendered.channel == "voice" else rendered.body, html=rendered.html,
        title=rendered.title, url=rendered.url,
        data_json=orjson.dumps(rendered.data) if rendered.data is not None else b"",
    )


def fill_limits(message, settings: WorkspaceSettings) -> None:
    """The caps and quiet hours of settings into a SendPolicy or WorkspaceSettings message."""
    for cap in settings.frequency_caps:
        message.frequency_caps.add(
            channel=cap.channel, max=cap.max, per_seconds=int(cap.per.total_seconds()) if cap.per else 0,
            calendar_day=cap.per is None, per=cap.per_text,
        )
    quiet = settings.quiet_hours
    if quiet is not None:
        message.quiet_hours.CopyFrom(campaign_pb2.QuietHours(
            start=minutes_to_clock(quiet.start), end=minutes_to_clock(quiet.end),
            fallback_timezone=quiet.fallback_timezone or "",
        ))


def settings_message(applied: handlers.AppliedSettings) -> campaign_pb2.WorkspaceSettings:
    message = campaign_pb2.WorkspaceSettings(
        workspace_id=applied.workspace_id, global_control=applied.settings.global_control,
        global_control_text=applied.settings.global_control_text, source_yaml=applied.source_yaml,
        file_name=applied.file_name, changed=applied.changed,
    )
    fill_limits(message, applied.settings)
    set_timestamp(message.updated_at, applied.updated_at)
    return message


def simulate_response(name: str, result: SimulationResult) -> campaign_pb2.SimulateResponse:
    response = campaign_pb2.SimulateResponse(
        campaign=name, events_replayed=result.events_replayed, triggered=result.triggered, entered=result.entered,
        cancelled=result.cancelled, would_send=result.would_send, kept_out_by_reentry=result.kept_out_by_reentry,
        users_in_flight_peak=result.users_in_flight_peak,
    )
    for condition, users in sorted(result.filtered_out.items(), key=lambda item: (-item[1], item[0])):
        response.filtered_out.add(key=condition, count=users)
    for day, sends in sorted(result.by_day.items()):
        response.would_send_by_day.add(key=day, count=sends)
    for hour, sends in sorted(result.by_local_hour.items()):
        response.would_send_by_local_hour.add(key=f"{hour:02d}", count=sends)
    for reason, sends in sorted(result.not_sent.items()):
        response.not_sent.add(key=reason, count=sends)
    for goal in result.goals():
        response.goals.add(name=goal["name"], conversions=goal["conversions"], rate=goal["rate"])
    return response


def _count_decisions(outcome: handlers.EventsOutcome) -> None:
    settling = sum(1 for send in outcome.new_sends if send["settle_until"] is not None)
    for name, count in (
        ("scheduled", len(outcome.new_sends) - settling), ("settling", settling), ("suppressed", outcome.kept_out),
        ("duplicate", outcome.duplicates), ("converted", outcome.conversions),
    ):
        if count:
            metrics.count_campaign_decision(name, count)


def _utc_time(text: str) -> datetime:
    """A time of ReadEvents' columns: ISO 8601 in UTC with its offset (read as UTC without one)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _properties(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
