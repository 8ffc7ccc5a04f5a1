"""What the tokens and TLS cost: bench/ingest.py and bench/campaigns.py, in one run, three ways.

    python bench/security.py [--before REF] [--ingest-seconds 15] [--events 60000] [--sizes 10 1000]
                             [--rounds 2] [--only ingest|campaigns] [--explain on|off]

1. before: the code at REF (default: main just before tokens landed), plaintext, no tokens;
   taken from git (`git archive`) into a temporary folder and run from there, its modules put
   first on PYTHONPATH, so `herald up` and every service it starts run that code.
2. tokens: this checkout, plaintext; every call carries its token (as always now).
3. tokens+mtls: this checkout, mutual TLS between every process (--tls).

Each kind runs --rounds times, each round in another order, and the best figure of each kind
is compared (the machine's other load only ever makes a run slower). Prints every figure of each
run as a JSON line with "run" set, then one line per compared figure with the ratio to before
(the target: each at least 0.9, i.e. less than 10% slower).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "db0948a"  # main before "keyfiles" and "access" (the tokens) landed
COMPARED = {"ingest": ("ingest_events_per_s", "gateway_latency_p99_ms"),
            "campaigns": ("campaign_eval_events_per_s_{small}", "campaign_eval_events_per_s_{large}")}
# p99 latency: lower is better, so its ratio is before / after.
LOWER_IS_BETTER = {"gateway_latency_p99_ms"}


def checkout(ref: str, into: Path) -> Path:
    """The tree at ref, and a folder whose entries map herald's import names onto it."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into / "tree", filter="data")
    names = into / "names"
    names.mkdir()
    for name, target in {"herald_common": "libs/herald_common", "herald_cli": "libs/herald_cli",
                         "herald": "libs/herald_protos/herald", "herald_services": "services"}.items():
        (names / name).symlink_to(into / "tree" / target)
    return names


def run(label: str, script: Path, args: list[str], env: dict[str, str]) -> dict[str, dict]:
    print(f"[{label}] {script.relative_to(script.parents[1])} {' '.join(args)}", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True,
                          timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"[{label}] {script.name} failed:\n{done.stderr[-2000:]}")
    figures = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            figure = json.loads(line)
            figures[figure["figure"]] = figure
            print(json.dumps({**figure, "run": label}), flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help=f"the git ref measured as before (default {BEFORE})")
    parser.add_argument("--ingest-seconds", type=float, default=15.0)
    parser.add_argument("--events", type=int, default=60_000, help="campaigns: events sent per catalogue size")
    parser.add_argument("--sizes", type=int, nargs=2, default=[10, 1000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--rounds", type=int, default=2, help="runs of each kind; the best of each is compared")
    parser.add_argument("--only", choices=sorted(COMPARED), help="run one of the two benchmarks (default: both)")
    parser.add_argument("--explain", choices=("on", "off"), default="on",
                        help="HERALD_EXPLAIN of this checkout's runs (off: compare like with like, the before "
                             "code records no decision steps; default on, as users run it)")
    args = parser.parse_args()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_") and k != "PYTHONPATH"}
    after_env = {**base_env, "HERALD_EXPLAIN": args.explain}
    ingest_args = ["--seconds", str(args.ingest_seconds)]
    campaign_args = ["--events", str(args.events), "--sizes", *map(str, args.sizes)]
    small, large = args.sizes
    compared = {bench: [t.format(small=small, large=large) for t in templates] for bench, templates in COMPARED.items()
                if args.only in (None, bench)}
    best: dict[tuple[str, str, str], float] = {}  # (bench, run, figure) -> best value over the rounds
    with tempfile.TemporaryDirectory(prefix="herald-bench-before-") as folder:
        names = checkout(args.before, Path(folder))
        before_env = {**base_env, "PYTHONPATH": str(names)}
        tree = Path(folder) / "tree"
        for round_number in range(args.rounds):
            for bench, extra in (("ingest", ingest_args), ("campaigns", campaign_args)):
                if bench not in compared:
                    continue
                runs = [("before", tree / "bench" / f"{bench}.py", extra, before_env),
                        ("tokens", ROOT / "bench" / f"{bench}.py", extra, after_env),
                        ("tokens+mtls", ROOT / "bench" / f"{bench}.py", [*extra, "--tls"], after_env)]
                # Each round in another order, so the machine's other load falls on each run alike.
                shift = round_number % len(runs)
                for label, script, arguments, env in runs[shift:] + runs[:shift]:
                    figures = run(label, script, arguments, env)
                    for figure in compared[bench]:
                        value = figures[figure]["value"]
                        key = (bench, label, figure)
                        keep = min if figure in LOWER_IS_BETTER else max
                        best[key] = keep(best.get(key, value), value)
    for bench, figures in compared.items():
        for figure in figures:
            before = best[(bench, "before", figure)]
            for label in ("tokens", "tokens+mtls"):
                after = best[(bench, label, figure)]
                ratio = before / after if figure in LOWER_IS_BETTER else after / before
                print(json.dumps({"figure": f"security_cost_{figure}", "value": round(ratio, 3), "run": label,
                                  "before": before, "after": after, "rounds": args.rounds, "of": "best of the rounds",
                                  "unit": "ratio to before", "target": ">= 0.9"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
