"""bench/delivery.py still runs: a tiny run with every phase (pending, burst, paced, the check)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_delivery_benchmark_runs_and_delivers_each_send_once(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "delivery.py"), "--pending", "300", "--burst", "30", "--paced", "20",
         "--paced-rate", "50", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = {line["figure"]: line for line in map(json.loads, result.stdout.splitlines())}
    assert {"delivery_rss_mb_1m_pending", "dispatch_sends_per_s", "dispatch_sends_per_s_with_caps",
            "dispatch_lateness_p99_s"} <= set(figures)
    assert figures["dispatch_sends_per_s_with_caps"]["sends"] == 30  # three caps, none reached: all go
    assert figures["dispatch_delivered"]["value"] == 80 and figures["dispatch_delivered"]["repeats"] == 0
