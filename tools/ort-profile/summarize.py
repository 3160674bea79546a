"""Summarise ONNX Runtime profiles (written when MOEDETECT_ORT_PROFILE=<prefix> is set) by operator type.

Usage: python3 tools/ort-profile/summarize.py <prefix>*.json
Prints, per file, the total kernel time per op type and execution provider over all runs (warm-up included),
the share of the total, and the ten slowest nodes: enough to see what dominates a model on the GPU.
"""
import collections
import json
import sys


def summarize(path: str) -> None:
    events = json.load(open(path))
    kernels = [e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    runs = sum(1 for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
    by_type = collections.Counter()
    by_node = collections.Counter()
    for e in kernels:
        args = e.get("args", {})
        key = (args.get("op_name", "?"), args.get("provider", "?"))
        by_type[key] += e["dur"]
        by_node[(e["name"][: -len("_kernel_time")], args.get("op_name", "?"))] += e["dur"]
    total = sum(by_type.values()) or 1
    print(f"== {path}: {runs} runs, kernel time {total / 1000:.1f} ms in all ({total / 1000 / max(runs, 1):.3f} ms per run)")
    for (op, provider), us in by_type.most_common():
        print(f"  {op:24s} {provider:26s} {us / 1000 / max(runs, 1):9.3f} ms/run {100 * us / total:5.1f} %")
    print("  slowest nodes:")
    for (node, op), us in by_node.most_common(10):
        print(f"    {node[:60]:60s} {op:12s} {us / 1000 / max(runs, 1):9.3f} ms/run")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        summarize(p)
