"""The supervisor with real processes: restarts with backoff, startup failures, clean stops."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from herald_cli.supervisor import Backoff, ChildSpec, StartupFailed, Supervisor

# A stand-in service: answers (touches <dir>/<pid>) once up; its mode says how it misbehaves.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path

    ready_dir, mode, log = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode == "crash":
        sys.exit(3)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode.startswith("record:"):
        name, pause = mode.split(":")[1], float(mode.split(":")[2])
        def record(signum, frame):
            time.sleep(pause)
            with open(log, "a") as f:
                f.write(name + "\\n")
            sys.exit(0)
        signal.signal(signal.SIGTERM, record)
    (ready_dir / str(os.getpid())).touch()
    if mode == "flaky":
        time.sleep(0.2)
        sys.exit(1)
    while True:
        time.sleep(0.05)
    """
)


class Harness:
    def __init__(self, tmp_path: Path, **options) -> None:
        self.dir = tmp_path
        self.script = tmp_path / "child.py"
        self.script.write_text(CHILD)
        self.log = tmp_path / "stopped.log"
        self.reports: list[str] = []
        options.setdefault("backoff", Backoff(initial=0.1, maximum=1.0, reset_after=5.0))
        self.supervisor = Supervisor(env=os.environ, probe_interval=0.02, report=self.reports.append, **options)

    def start(self, name: str, mode: str = "steady", tier: int = 0) -> None:
        ready_dir = self.dir / name
        ready_dir.mkdir(exist_ok=True)

        async def answers() -> bool:
            pid = self.supervisor.pid(name)
            return pid is not None and (ready_dir / str(pid)).exists()

        argv = (sys.executable, str(self.script), str(ready_dir), mode, str(self.log))
        self.supervisor.start(ChildSpec(name=name, argv=argv, probe=answers, tier=tier))


async def eventually(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_child_killed_is_restarted_after_the_backoff_and_says_so(tmp_path):
    harness = Harness(tmp_path)
    harness.start("identity")
    await harness.supervisor.wait_ready(["identity"], timeout=5)
    first = harness.supervisor.pid("identity")
    os.kill(first, signal.SIGKILL)
    await eventually(lambda: any("is back" in line for line in harness.reports))
    second = harness.supervisor.pid("identity")
    assert second not in (None, first)
    assert harness.reports == [
        "herald: identity exited with code -9 (SIGKILL); restarting in 0.1s",
        f"herald: identity is back (pid {second})",
    ]
    await harness.supervisor.stop()
    assert gone(second)


async def test_the_restart_delay_doubles_while_a_child_keeps_dying(tmp_path):
    harness = Harness(tmp_path)
    harness.start("ingest", mode="flaky")
    await harness.supervisor.wait_ready(["ingest"], timeout=5)
    await eventually(lambda: sum("restarting" in line for line in harness.reports) >= 3)
    await harness.supervisor.stop()
    delays = [line.rsplit(" ", 1)[1] for line in harness.reports if "restarting" in line]
    assert delays[:3] == ["0.1s", "0.2s", "0.4s"]
    assert all("exited with code 1;" in line for line in harness.reports if "restarting" in line)


async def test_a_child_that_dies_before_it_answers_fails_startup_and_is_not_restarted(tmp_path):
    harness = Harness(tmp_path)
    harness.start("identity", mode="crash")
    with pytest.raises(StartupFailed, match="identity exited with code 3 before it answered"):
        await harness.supervisor.wait_ready(["identity"], timeout=5)
    assert harness.supervisor.restarts("identity") == 0
    assert harness.reports == []
    await harness.supervisor.stop()


async def test_a_child_that_never_answers_fails_startup_when_the_time_is_up(tmp_path):
    harness = Harness(tmp_path)
    script = tmp_path / "silent.py"
    script.write_text("import time\nwhile True: time.sleep(0.05)\n")

    async def never() -> bool:
        return False

    harness.supervisor.start(ChildSpec(name="gateway", argv=(sys.executable, str(script)), probe=never))
    with pytest.raises(StartupFailed, match=r"gateway did not answer within 0.3s"):
        await harness.supervisor.wait_ready(["gateway"], timeout=0.3)
    await harness.supervisor.stop()


async def test_stop_kills_a_child_that_ignores_sigterm_once_the_grace_period_is_over(tmp_path):
    harness = Harness(tmp_path, grace_seconds=0.3)
    harness.start("delivery", mode="stubborn")
    await harness.supervisor.wait_ready(["delivery"], timeout=5)
    pid = harness.supervisor.pid("delivery")
    await harness.supervisor.stop()
    assert harness.reports == ["herald: delivery did not stop within 0.3s; killing it"]
    assert gone(pid)


async def test_stop_stops_the_gateway_before_the_services_it_calls(tmp_path):
    harness = Harness(tmp_path)
    harness.start("identity", mode="record:identity:0")
    harness.start("gateway", mode="record:gateway:0.3", tier=1)
    await harness.supervisor.wait_ready(["identity", "gateway"], timeout=5)
    await harness.supervisor.stop()
    assert harness.log.read_text().split() == ["gateway", "identity"]
    assert harness.reports == []


async def test_stop_during_a_restart_delay_does_not_start_the_child_again(tmp_path):
    harness = Harness(tmp_path, backoff=Backoff(initial=5.0))
    harness.start("identity")
    await harness.supervisor.wait_ready(["identity"], timeout=5)
    os.kill(harness.supervisor.pid("identity"), signal.SIGKILL)
    await eventually(lambda: harness.reports)
    await asyncio.wait_for(harness.supervisor.stop(), timeout=2)
    assert harness.supervisor.pid("identity") is None
    assert harness.supervisor.restarts("identity") == 0
