"""Equality check: the PyTorch teacher (teacher.py) against a converted ONNX of the same TFJS graph, on real images.

python3 training/compare_onnx.py --teacher centernet.json --onnx centernet-mnv3.onnx --pack pack.npz
The ONNX must have input 'images' [1,512,512,3] and outputs detections/heatmap/wh (onnxruntime, CPU).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from data import Pack
from teacher import CenterNetTeacher


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", type=Path, required=True)
    ap.add_argument("--onnx", type=Path, required=True)
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--images", type=int, default=6)
    a = ap.parse_args()
    import onnxruntime as ort
    sess = ort.InferenceSession(str(a.onnx), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    teacher = CenterNetTeacher(a.teacher).eval()
    pack = Pack(a.pack)
    idx = pack.indices("coco")[:a.images // 2] + pack.indices("video:")[::300][:a.images - a.images // 2]
    worst = {"heatmap": 0.0, "wh": 0.0, "detections_scored": 0.0}
    rows_equal = 0
    for i in idx:
        x = pack.batch([i])
        with torch.no_grad():
            heat, wh, det = (t.numpy() for t in teacher(x))
        got = dict(zip(names, sess.run(names, {"images": x.numpy()})))
        worst["heatmap"] = max(worst["heatmap"], float(np.abs(got["heatmap"] - heat).max()))
        worst["wh"] = max(worst["wh"], float(np.abs(got["wh"] - wh).max()))
        # rows with score > 0 (zero-score rows are ties whose order top-k does not define)
        live = det[0, :, 4] > 1e-3
        worst["detections_scored"] = max(worst["detections_scored"],
                                         float(np.abs(got["detections"][0][live] - det[0][live]).max()))
        rows_equal += int((got["detections"][0][live, 5] == det[0][live, 5]).all())
    print(json.dumps({"images": len(idx), "max_abs_diff": worst, "images_with_same_classes_in_order": rows_equal,
                      "onnx": a.onnx.name}))


if __name__ == "__main__":
    main()
