"""`make bench`: run every bench/bench_*.py, write var/bench/results.json and print a table.

Each benchmark module has `run() -> list[dict]`; a figure is
{"name", "value", "unit", "baseline", "baseline_value", "ratio", "goal"}, where ratio is
value / baseline_value, both measured in the same run. `python bench/run.py ingest` runs only
the modules whose name contains "ingest".
"""

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

FIELDS = ("name", "value", "unit", "baseline", "baseline_value", "ratio", "goal")


def figure(name, value, unit, baseline, baseline_value, goal) -> dict:
    """One result row, with its ratio computed from the two measurements."""
    ratio = round(value / baseline_value, 4) if baseline_value else None
    return {
        "name": name,
        "value": round(value, 4),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": round(baseline_value, 4),
        "ratio": ratio,
        "goal": goal,
    }


def run_child(script: str, *args: str, env: dict, name: str) -> tuple[dict, int]:
    """Run a benchmark module as a child process (its `child_main`); returns its answer and
    its own peak RSS in KiB.

    The peak is the one the child reads of itself (`VmHWM`, which exec resets): on Linux the
    `ru_maxrss` that wait4 reports for a child starts from the parent's size when it forked,
    so under `make bench`, after the benchmarks that ran in the parent, every child would
    seem at least as large as the parent.
    """
    process = subprocess.Popen(
        [sys.executable, script, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE
    )
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(
            f"the {name} child ({args[0]}) failed ({process.returncode}): {output[-500:]!r}"
        )
    answer = json.loads(output.decode().strip().splitlines()[-1])
    return answer["result"], answer["peak_kib"]


def peak_rss_kib() -> int:
    """This process's peak resident set since it started its program, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/status has no VmHWM: peak memory needs Linux")


def child_main(measure) -> None:
    """A benchmark child's entry point: `measure(*argv)`, then its answer and peak memory as
    the last line of standard output, for `run_child`."""
    result = measure(*sys.argv[1:])
    print(json.dumps({"result": result, "peak_kib": peak_rss_kib()}))


def main(selected: list[str]) -> int:
    import django

    django.setup()
    modules = sorted(path.stem for path in (ROOT / "bench").glob("bench_*.py"))
    if selected:
        modules = [name for name in modules if any(word in name for word in selected)]
    results, failures = [], []
    for name in modules:
        started = time.monotonic()
        print(f"running {name} …", flush=True)
        try:
            figures = importlib.import_module(f"bench.{name}").run()
        except Exception as error:  # a broken benchmark must not hide the others' figures
            failures.append(f"{name}: {error!r}")
            print(f"  failed: {error!r}", flush=True)
            continue
        for row in figures:
            missing = set(FIELDS) - set(row)
            if missing:
                raise ValueError(f"{name} returned a figure without {sorted(missing)}")
            results.append({key: row[key] for key in FIELDS})
        print(f"  done in {time.monotonic() - started:.1f}s", flush=True)
    out = ROOT / "var" / "bench" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwrote {out.relative_to(ROOT)}")
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


def print_table(results: list[dict]) -> None:
    headers = ["name", "value", "unit", "baseline", "baseline value", "ratio", "goal"]
    rows = [
        [
            str(r["name"]),
            f"{r['value']:,}",
            r["unit"],
            r["baseline"],
            f"{r['baseline_value']:,}",
            str(r["ratio"]),
            r["goal"],
        ]
        for r in results
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(headers)
    ]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
