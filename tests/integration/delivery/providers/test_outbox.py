"""OutboxProvider: one JSON line per message in $HERALD_DATA_DIR/outbox.jsonl."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from herald_services.delivery.providers.base import Address, Message
from herald_services.delivery.providers.outbox import OutboxProvider


async def test_each_message_is_one_json_line(tmp_path):
    data_dir = tmp_path / "var"  # created on first write
    provider = OutboxProvider(data_dir)
    email = Message(send_id="s1", channel="email", subject="Hi", body="Text\nwith a newline", html="<p>Hi</p>")
    push = Message(send_id="s2", channel="push", title="T", body="B", data={"k": "v"})
    first = await provider.send(email, Address("email", "ada@example.com"))
    second = await provider.send(push, Address("fcm", "tok"))
    await provider.close()
    assert first.accepted and second.accepted and first.detail == str(data_dir / "outbox.jsonl")
    lines = (data_dir / "outbox.jsonl").read_text().splitlines()
    assert len(lines) == 2
    one, two = (json.loads(line) for line in lines)
    assert {k: v for k, v in one.items() if k != "written_at"} == {
        "send_id": "s1", "channel": "email", "address": {"kind": "email", "value": "ada@example.com"},
        "subject": "Hi", "body": "Text\nwith a newline", "html": "<p>Hi</p>", "title": "", "data": None, "url": "",
    }
    assert two["address"] == {"kind": "fcm", "value": "tok"} and two["data"] == {"k": "v"}
    written_at = datetime.fromisoformat(one["written_at"])
    assert written_at.utcoffset() is not None


def test_writers_in_several_threads_never_interleave(tmp_path):
    providers = [OutboxProvider(tmp_path), OutboxProvider(tmp_path)]
    big = "x" * 20_000

    def write(n: int) -> bool:
        message = Message(send_id=f"s{n}", channel="sms", body=big)
        return asyncio.run(providers[n % 2].send(message, Address("phone", "+1"))).accepted

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(write, range(60)))
    lines = (tmp_path / "outbox.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["send_id"] for line in lines) == sorted(f"s{n}" for n in range(60))


async def test_unwritable_outbox_retries(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    attempt = await OutboxProvider(blocker).send(Message(send_id="s", channel="sms"), Address("phone", "+1"))
    assert attempt.outcome == "retry" and str(blocker / "outbox.jsonl") in attempt.detail
