"""Summary of tools/IlgpuBench/ab.sh's results: per model and batch, each build's network time (median device time
of the plan) in every round, B ÷ A on the best of each, and the first run's time with the plan build.
usage: python3 tools/IlgpuBench/ab_table.py OUT"""
import collections
import glob
import json
import os
import sys


def main(out: str) -> None:
    runs = collections.defaultdict(list)
    first = {}
    for path in sorted(glob.glob(os.path.join(out, "[AB]-r*-*.json"))):
        side, _, model = os.path.basename(path)[:-5].split("-", 2)
        for run in json.load(open(path)).get("runs", []):
            if "error" in run:
                print(f"{os.path.basename(path)} batch {run.get('batch')}: {run['error'][:200]}")
                continue
            key = (model, run["batch"], side)
            runs[key].append(run["ilgpu_ms_per_batch"]["inference"])
            first.setdefault(key, run["first_run_ms_incl_plan"])
    print("| model | batch | A ms | B ms | B ÷ A | first run incl. plan, A / B |")
    print("|---|---|---|---|---|---|")
    for model, batch in sorted({(m, b) for m, b, _ in runs}):
        a, b = runs.get((model, batch, "A"), []), runs.get((model, batch, "B"), [])
        ratio = f"{min(b) / min(a):.3f}" if a and b else "–"
        plans = " / ".join(f"{first[(model, batch, s)] / 1000:.1f} s" for s in "AB" if (model, batch, s) in first)
        print(f"| {model} | {batch} | {' / '.join(f'{x:.3f}' for x in a)} | {' / '.join(f'{x:.3f}' for x in b)} | {ratio} | {plans} |")


if __name__ == "__main__":
    main(sys.argv[1])
