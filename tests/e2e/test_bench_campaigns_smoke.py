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
    assert set(figures) == {"campaign_eval_events_per_s_10", "campaign_eval_events_per_s_200", "campaign_scaling_ratio",
                            "explain_overhead_ratio", "explain_cpu_overhead_ratio"}
    for size in (10, 200):
        figure = figures[f"campaign_eval_events_per_s_{size}"]
        assert figure["value"] > 0 and figure["events"] == 5000
        # the same events trigger the same campaigns whatever the size: the same sends result
        assert figure["sends_scheduled"] == figures["campaign_eval_events_per_s_10"]["sends_scheduled"] > 0

    # explain on and off: both services saw every event, in as many slices, and decided alike;
    # only the one recording wrote steps, so the ratios compare recording with not recording
    overhead = figures["explain_overhead_ratio"]
    assert overhead["events"] == 5000 and overhead["rounds"] == 2
    assert len(overhead["on_rates"]) == len(overhead["off_rates"]) == 2
    assert overhead["on_events_per_s"] > 0 and overhead["off_events_per_s"] > 0
    assert -1 < overhead["value"] < 1
    assert abs(overhead["value"] - (1 - overhead["on_events_per_s"] / overhead["off_events_per_s"])) < 0.002
    assert overhead["sends_scheduled_on"] == overhead["sends_scheduled_off"] == figures["campaign_eval_events_per_s_10"]["sends_scheduled"]
    assert overhead["step_rows_on"] > 0 and overhead["step_rows_off"] == 0
    cpu = figures["explain_cpu_overhead_ratio"]
    assert cpu["on_cpu_us_per_event"] > 0 and cpu["off_cpu_us_per_event"] > 0 and -1 < cpu["value"] < 1
