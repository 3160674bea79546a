"""Checks ilgpu-bench's outputs against ONNX Runtime (CPU) on the same network input and times ONNX Runtime.
usage: python3 compare.py <model.onnx> <bench-dir> <out.json>   (run after ilgpu-bench wrote bench-dir)"""
import json, sys, time
import numpy as np
import onnxruntime as ort

model, bench, out = sys.argv[1:4]
report = json.load(open(f"{bench}/ilgpu-bench.json"))
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
inp = session.get_inputs()[0]
item_shape = inp.shape[1:]
for run in report["runs"]:
    if "error" in run:
        continue
    b = run["batch"]
    x = np.fromfile(f"{bench}/input_b{b}.bin", dtype=np.float32).reshape([b] + item_shape)
    # The graph has a fixed batch of 1: run item by item, as the product's OrtEngine does.
    def infer():
        return [session.run(None, {inp.name: x[i:i + 1]}) for i in range(b)]
    results = infer()
    errors, agree = {}, None
    for k, o in enumerate(session.get_outputs()):
        expected = np.concatenate([r[k] for r in results]).astype(np.float32)
        actual = np.fromfile(f"{bench}/{o.name}_b{b}.bin", dtype=np.float32).reshape(expected.shape)
        errors[o.name] = float(np.abs(expected - actual).max())
        if o.name == "detections":
            keep = expected[..., 4] >= 0.3
            same = (expected[..., 5] == actual[..., 5]) & (np.abs(expected[..., :4] - actual[..., :4]).max(-1) <= 0.5)
            agree = {"kept": int(keep.sum()), "agree": int((keep & same).sum())}
    samples = []
    for _ in range(10):
        t = time.perf_counter(); infer(); samples.append((time.perf_counter() - t) * 1000)
    run["max_abs_error_vs_ort_cpu"] = errors
    run["detections_agree_score_0.3"] = agree
    run["ort_cpu_ms_per_batch"] = {"median": sorted(samples)[len(samples) // 2], "min": min(samples), "threads": "default"}
json.dump(report, open(out, "w"), indent=1)
print(json.dumps(report, indent=1))
