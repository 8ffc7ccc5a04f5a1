"""Ports for the servers tests start, chosen outside the kernel's ephemeral range.

Binding port 0 and closing the socket hands out a port from the ephemeral range, which the
kernel may give to any outgoing connection (and a busy test run makes thousands) before the
server under test binds it: "address already in use", now and then. Ports here come from
20000-31999 instead, which nothing picks on its own: each pytest-xdist worker takes its own
block, a process hands each port out once, and a port something already listens on (or that
is still held) is skipped.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

_FIRST, _BLOCKS, _BLOCK = 20_000, 6, 2_000


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... or unset
    return int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0


_base = _FIRST + (_worker_index() % _BLOCKS) * _BLOCK
_offsets = itertools.count(random.randrange(_BLOCK))


def free_port() -> int:
    for _ in range(_BLOCK):
        port = _base + next(_offsets) % _BLOCK
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_base}-{_base + _BLOCK - 1}")
