"""Starts the suite exactly as a user does: `herald up` as a subprocess, on free ports, in a data dir.

    with launch(tmp_path) as suite:          # waits until `herald up` says it is up
        suite.herald_json("users", "show", "u1")
        httpx.post(f"{suite.gateway_url}/v1/track", auth=(suite.write_key, ""), json={...})
    # leaving the block sends SIGTERM and checks that herald up exited 0 and every child is gone

`herald up`'s stdout (its announcement and the children's JSON logs) and stderr (what it says
about starting, restarting and stopping) go to files in the run's folder; read them with
`suite.stdout()` / `suite.stderr()`, and they are printed when a start fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from herald_common.settings import SERVICES

from tests.ports import free_port

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
_ANNOUNCED = re.compile(r"^  (\S.*?)\s{2,}(\S.*)$")
_CHILD_MODULE = re.compile(r"herald_services\.(\w+)\.main")




def herald_command() -> list[str]:
    """The `herald` console script of this environment, else the same thing through -m."""
    script = Path(sys.executable).parent / "herald"
    return [str(script)] if script.exists() else [sys.executable, "-m", "herald_cli"]


def suite_environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any HERALD_ setting, then free ports and the data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    for service in SERVICES:
        env[f"HERALD_{service.upper()}_ADDRESS"] = f"127.0.0.1:{free_port()}"
    # Suites run side by side: no fixed metrics ports to fight over (tests/integration/test_metrics.py covers them).
    for component in (*SERVICES, "gateway"):
        env[f"HERALD_{component.upper()}_METRICS_ADDRESS"] = ""
    env.update(HERALD_DATA_DIR=str(data_dir), HERALD_GATEWAY_HOST="127.0.0.1", HERALD_GATEWAY_PORT=str(free_port()))
    env.update(HERALD_CONSOLE_HOST="127.0.0.1", HERALD_CONSOLE_PORT=str(free_port()))
    env.update(extra)
    return env


def child_pids(parent: int) -> dict[str, int]:
    """The running children of `herald up`, by service name (Linux: read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        match = _CHILD_MODULE.search(cmdline)
        if ppid == parent and match and state != "Z":
            found[match.group(1)] = int(entry.name)
    return found


def is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie no one reaped yet is gone too
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class SuiteFailed(AssertionError):
    pass


@dataclass
class Suite:
    """A running `herald up`, what it announced, and how to talk to it."""

    process: subprocess.Popen
    run_dir: Path
    env: dict[str, str]
    announced: dict[str, str] = field(default_factory=dict)

    # ---- what it announced -------------------------------------------------------------

    @property
    def write_key(self) -> str:
        return self.announced["write key"]

    @property
    def gateway_url(self) -> str | None:
        return self.announced.get("gateway")

    @property
    def console_url(self) -> str | None:
        return self.announced.get("console")

    @property
    def admin_token(self) -> str:
        """HERALD_ADMIN_TOKEN when the run sets it, else the token kept in the data dir."""
        return self.env.get("HERALD_ADMIN_TOKEN") or (self.data_dir / "admin_token").read_text().strip()

    @property
    def internal_token(self) -> str:
        """The token herald's services present to each other (what a test acting as one sends)."""
        return self.env.get("HERALD_INTERNAL_TOKEN") or (self.data_dir / "internal_token").read_text().strip()

    @property
    def data_dir(self) -> Path:
        return Path(self.env["HERALD_DATA_DIR"])

    @property
    def services(self) -> dict[str, str]:
        """Each started gRPC service and its address."""
        return {name: self.announced[name] for name in SERVICES if name in self.announced}

    def stdout(self) -> str:
        return (self.run_dir / "stdout.log").read_text(errors="replace")

    def stderr(self) -> str:
        return (self.run_dir / "stderr.log").read_text(errors="replace")

    def children(self) -> dict[str, int]:
        return child_pids(self.process.pid)

    # ---- the CLI -----------------------------------------------------------------------

    def herald(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs `herald ARGS` against this suite; never raises on a non-zero exit."""
        return subprocess.run(
            [*herald_command(), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def herald_json(self, *args: str):
        result = self.herald(*args, "--json")
        if result.returncode != 0:
            raise AssertionError(f"herald {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return json.loads(result.stdout)

    # ---- waiting -------------------------------------------------------------------------

    def wait_for_stderr(self, text: str, timeout: float = 20) -> None:
        self._wait(lambda: text in self.stderr(), f"{text!r} on herald up's stderr", timeout)

    def wait_until_up(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        self._wait(lambda: self._read_announcement() is not None, "herald up's announcement", timeout)
        self.announced = self._read_announcement()

    def _read_announcement(self) -> dict[str, str] | None:
        lines = self.stdout().splitlines()
        if "herald is up" not in lines:
            return None
        start = lines.index("herald is up") + 1
        announced = {}
        for line in lines[start:]:
            match = _ANNOUNCED.match(line)
            if not match:
                break
            announced[match.group(1)] = match.group(2)
        return announced if "write key" in announced else None

    def _wait(self, condition, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise SuiteFailed(f"herald up exited ({self.process.returncode}) before {what}:\n{self._tails()}")
            if time.monotonic() > deadline:
                raise SuiteFailed(f"no {what} within {timeout:g}s:\n{self._tails()}")
            time.sleep(0.05)

    def _tails(self) -> str:
        return f"--- stderr ---\n{self.stderr()[-4000:]}\n--- stdout ---\n{self.stdout()[-4000:]}"

    # ---- stopping ------------------------------------------------------------------------

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """Signals herald up and waits; asserts it exits 0 and leaves no child running."""
        children = self.children()
        self.process.send_signal(signum)
        try:
            returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise SuiteFailed(f"herald up did not stop within {timeout:g}s:\n{self._tails()}") from None
        left = {name: pid for name, pid in children.items() if not is_gone(pid)}
        if returncode != 0 or left:
            raise SuiteFailed(f"herald up exited {returncode}, still running: {left}:\n{self._tails()}")
        return returncode

    def kill_everything(self) -> None:
        """Last resort after a failed test: no process of this run outlives it."""
        children = self.children()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in children.values():
            if not is_gone(pid):
                os.kill(pid, signal.SIGKILL)


def start(run_dir: Path, env: dict[str, str], *, args: tuple[str, ...] = ()) -> Suite:
    """Starts `herald up` and returns once it has announced that everything answers."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "stdout.log", "wb") as stdout, open(run_dir / "stderr.log", "wb") as stderr:
        process = subprocess.Popen(
            [*herald_command(), "up", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # signals meant for pytest do not reach it
        )
    suite = Suite(process, run_dir, env)
    try:
        suite.wait_until_up()
    except BaseException:
        suite.kill_everything()
        raise
    return suite


@contextmanager
def launch(run_dir: Path, *, data_dir: Path | None = None, **extra_env: str) -> Iterator[Suite]:
    """A running suite for the block; stopped with SIGTERM after it, and checked to stop cleanly."""
    env = suite_environment(data_dir or run_dir / "var", **extra_env)
    suite = start(run_dir, env)
    try:
        yield suite
    except BaseException:
        suite.kill_everything()
        raise
    if suite.process.poll() is None:
        try:
            suite.stop()
        finally:
            suite.kill_everything()


def wait_for(condition, what: str, timeout: float = 60.0, interval: float = 0.2):
    """Polls condition until it returns something truthy, and returns that; fails after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
