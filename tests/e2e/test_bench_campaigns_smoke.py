"""bench/campaigns.py must keep working: run it small and check it prints its figures.
(Its numbers are not judged here; timing assertions belong to benchmarks, not tests.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_campaign_benchmark_runs_and_prints_every_figure():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "campaigns.py"), "--quick"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = {line["figure"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert set(figures) == {"campaign_eval_events_per_s_10", "campaign_eval_events_per_s_200", "campaign_scaling_ratio"}
    for size in (10, 200):
        figure = figures[f"campaign_eval_events_per_s_{size}"]
        assert figure["value"] > 0 and figure["events"] == 5000
        # the same events trigger the same campaigns whatever the size: the same sends result
        assert figure["sends_scheduled"] == figures["campaign_eval_events_per_s_10"]["sends_scheduled"] > 0
