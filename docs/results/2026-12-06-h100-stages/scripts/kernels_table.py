"""Per-layer comparison of two `ilgpu-bench kernels --tensor-cores-only` logs (same model, same machine):
python3 kernels_table.py A.log B.log [batch]  -> one row per layer, tile and order present in both, and the summed
time of each layer's fastest candidate (count-weighted), as the launch search would pick it."""
import json, sys

def load(path):
    rows = {}
    for line in open(path):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        for t in j.get("tensor_cores", []):
            rows[(j["layer"], t["tiles"], t.get("tap_major", False), t["slices"])] = (t["ms"], j["count"], t["max_abs_diff_vs_direct"])
    return rows

a, b = load(sys.argv[1]), load(sys.argv[2])
batch = f"n{sys.argv[3] if len(sys.argv) > 3 else 32} "
print("| layer | tiles | tap-major | A µs | B µs | B ÷ A | diff vs direct A / B |\n|---|---|---|---:|---:|---:|---|")
best_a, best_b = {}, {}
for key in a:
    if key not in b or not key[0].startswith(batch):
        continue
    (ma, count, da), (mb, _, db) = a[key], b[key]
    print(f"| {key[0]} | {key[1]} | {'yes' if key[2] else 'no'} | {ma * 1000:.1f} | {mb * 1000:.1f} | {mb / ma:.2f} | {da:.4f} / {db:.4f} |")
    best_a[key[0]] = min(best_a.get(key[0], (9e9, count))[0], ma), count
    best_b[key[0]] = min(best_b.get(key[0], (9e9, count))[0], mb), count
total = lambda best: sum(ms * count for ms, count in best.values())
print(f"\nfastest candidate per layer, summed over the plan's layers: A {total(best_a):.3f} ms, B {total(best_b):.3f} ms, B ÷ A {total(best_b) / total(best_a):.3f}")
