"""Simulate's replay (services/campaign/simulation.py): the live rules over a stream of events,
in memory, with users as they are now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald_services.campaign.simulation import SimEvent, Simulation, SimUser
from herald_services.campaign.spec import parse_campaign

CART = """
name: Cart
trigger: {event: Added}
filters:
  any_of:
    - all_of:
        - {source: event, property: price, op: gt, value: 45}
        - {source: user, property: plan, op: neq, value: Enterprise}
delay: 1h
reentry: once
delivery_window: {days: [mon, tue, wed, thu, fri, sat, sun], start: "09:00", end: "18:00", fallback_timezone: Europe/Berlin}
message: {channel: email, subject: "Hi", body: "Costs {{ event.price }}"}
cancel_if:
  - {event: Bought, match_trigger: [cart]}
goals:
  - {name: Bought it, event: Bought, within: 1d, match_trigger: [cart]}
"""

T0 = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # a Monday, 21:00 in Berlin: the window is closed
SETTLE = timedelta(seconds=60)


def _event(n: int, name: str, profile: str, at: datetime, **properties) -> SimEvent:
    return SimEvent(id=str(n), name=name, profile_id=profile, user_id=profile, properties=properties,
                    timestamp=at, received_at=at)


def _simulation(text: str = CART) -> Simulation:
    simulation = Simulation(parse_campaign(text), campaign_id="c", settle=SETTLE, default_timezone=None)
    for profile, attributes in {
        "ann": {"email": "ann@example.com", "plan": "Pro", "timezone": "America/New_York"},
        "bob": {"email": "bob@example.com", "plan": "Enterprise"},
        "cy": {"email": "cy@example.com", "plan": "Pro"},
        "dee": {"plan": "Pro"},
        "eve": {"email": "eve@example.com", "plan": "Pro", "unsubscribed": True},
    }.items():
        simulation.users[profile] = SimUser(user_id=profile, attributes=attributes)
    return simulation


def test_the_live_rules_decide_each_user():
    simulation = _simulation()
    events = [
        _event(1, "Added", "ann", T0, price=50, cart="a1"),
        _event(2, "Added", "ann", T0 + timedelta(minutes=1), price=60, cart="a2"),  # once: kept out
        _event(3, "Added", "bob", T0, price=50, cart="b1"),                          # plan Enterprise
        _event(4, "Added", "cy", T0, price=10, cart="c1"),                           # price 10
        _event(5, "Added", "dee", T0, price=99, cart="d1"),                          # no email
        _event(6, "Added", "eve", T0, price=99, cart="e1"),                          # unsubscribed
        _event(7, "Added", "zed", T0, price=99, cart="z1"),                          # gone from identity
    ]
    assert simulation.unknown_users(events) == {"zed"}
    simulation.users["zed"] = None
    simulation.replay(events)
    result = simulation.finish()
    assert (result.events_replayed, result.triggered, result.entered, result.kept_out_by_reentry) == (7, 7, 5, 1)
    assert dict(result.filtered_out) == {"user.plan neq Enterprise": 1, "event.price gt 45": 1}
    assert dict(result.not_sent) == {"no_address": 1, "unsubscribed": 1, "user_deleted": 1}
    assert result.would_send == 1
    # ann: due 21:00 UTC (16:00 in New York, inside 09:00-18:00): sent then, at 16 local
    assert dict(result.by_local_hour) == {16: 1} and dict(result.by_day) == {"2026-11-30": 1}


def test_cancel_before_the_due_time_and_goals_inside_the_window_after_the_send():
    simulation = _simulation()
    simulation.replay([
        _event(1, "Added", "ann", T0, price=50, cart="a1"),
        _event(2, "Added", "cy", T0, price=50, cart="c1"),
        _event(3, "Bought", "cy", T0 + timedelta(minutes=30), cart="c1"),  # before the due time: cancels
        _event(4, "Bought", "ann", T0 + timedelta(minutes=30), cart="other"),  # not this cart
        # ann's send goes out at 21:00 UTC (due, window open in New York)
        _event(5, "Bought", "ann", T0 + timedelta(hours=2), cart="other"),
        _event(6, "Bought", "ann", T0 + timedelta(hours=3), cart="a1"),  # converts
        _event(7, "Bought", "ann", T0 + timedelta(hours=4), cart="a1"),  # once per send
    ])
    result = simulation.finish()
    assert (result.entered, result.cancelled, result.would_send) == (2, 1, 1)
    assert result.goals() == [{"name": "Bought it", "conversions": 1, "rate": 1.0}]


def test_the_window_moves_a_send_to_its_next_opening_in_the_fallback_zone():
    simulation = _simulation()
    simulation.replay([_event(1, "Added", "cy", T0, price=50, cart="c1")])  # cy has no timezone: Berlin
    result = simulation.finish()
    # due 21:00 UTC = 22:00 Berlin, window closed: tuesday 09:00 Berlin = 08:00 UTC
    assert dict(result.by_day) == {"2026-12-01": 1} and dict(result.by_local_hour) == {9: 1}


def test_memory_follows_users_in_flight_not_events():
    text = CART.replace("reentry: once", "reentry: every_time").replace("delivery_window:", "#")
    simulation = Simulation(parse_campaign(text), campaign_id="c", settle=SETTLE)
    peak = 0
    for n in range(6_000):
        at = T0 + timedelta(seconds=n * 60)
        profile = f"u{n}"
        simulation.users[profile] = SimUser(user_id=profile, attributes={"email": "x@example.com", "plan": "Pro"})
        simulation.replay([_event(n, "Added", profile, at, price=50, cart="x")])
        peak = max(peak, simulation.users_in_flight, len(simulation.users))
    result = simulation.finish()
    assert result.would_send == 6_000
    # An event a minute, each send due 1 h later and its goal window open a day after that:
    # about (1 h + 1 d + 1 h) / 1 min = 1,560 users in flight at most, whatever the number of events.
    assert peak <= 26 * 60 + 2
    assert result.users_in_flight_peak <= peak


def test_a_user_is_kept_for_the_whole_page_their_triggers_are_in():
    simulation = _simulation(CART.replace("reentry: once", "reentry: every_time"))
    page = [_event(1, "Added", "cy", T0, price=50, cart="c1"),
            _event(2, "Added", "cy", T0 + timedelta(hours=3), price=50, cart="c2")]  # after the first is due
    assert simulation.unknown_users(page) == set()
    simulation.replay(page)
    result = simulation.finish()
    assert (result.entered, result.would_send, dict(result.not_sent)) == (2, 2, {})


def test_a_send_held_for_its_window_is_still_cancelled_until_it_goes_out():
    simulation = _simulation()
    simulation.replay([
        _event(1, "Added", "cy", T0, price=50, cart="c1"),  # due 21:00 UTC, Berlin's window opens 08:00 UTC
        _event(2, "Bought", "cy", T0 + timedelta(hours=3), cart="c1"),  # confirmed, held: still cancels
    ])
    result = simulation.finish()
    assert (result.entered, result.cancelled, result.would_send) == (1, 1, 0)
