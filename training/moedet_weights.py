"""The ES-MoE student with the weights of a shipped .moedet (no training checkpoint needed).

export.py writes every step as its own ONNX piece, exported from the step's module, so each piece's initializers
are named exactly like that module's state_dict keys (`expand.conv.weight`, `fc1.bias`, `inner.keep`, ...). The
architecture comes from the teacher graph (esmoe.ESMoEStudent), the values from the pieces; routing from the
manifest. `--verify` runs the loaded module on the model's exported parity vectors (what PyTorch produced at export
time from the training checkpoint) and prints the differences:

python3 training/moedet_weights.py --teacher .cache/teacher/package/models/centernet.json \
    --model models/esmoe-centernet.moedet --verify models/esmoe-parity-vectors.json
"""
from __future__ import annotations

import argparse
import base64
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
from onnx import numpy_helper

from esmoe import ESMoEStudent, MoEStep, Routing


def _piece_tensors(z: zipfile.ZipFile, entry: str) -> dict[str, torch.Tensor]:
    graph = onnx.load_from_string(z.read(entry)).graph
    return {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}


def _piece_entries(manifest: dict) -> dict[str, str]:
    """student state_dict prefix → ONNX entry, for every step piece of the manifest."""
    entries = {}
    for s in manifest["steps"]:
        if s["kind"] == "segment":
            entries[f"pieces.{s['name']}."] = s["onnx"]
            continue
        entries[f"pieces.{s['name']}.router."] = s["router"]["onnx"]
        for i, e in enumerate(s["experts"]):
            if e["onnx"] is not None:
                entries[f"pieces.{s['name']}.experts.{i}."] = e["onnx"]
    return entries


def routing_of(manifest: dict) -> Routing:
    return Routing(**{k: v for k, v in manifest["routing"].items() if k != "video_hysteresis"})


def load_moedet_student(teacher_json: Path, model: Path) -> tuple[ESMoEStudent, Routing]:
    """ESMoEStudent (fp32, eval) holding the .moedet's weights, and the manifest's routing."""
    student = ESMoEStudent(teacher_json)
    with zipfile.ZipFile(model) as z:
        manifest = json.loads(z.read("manifest.json"))
        found = {}
        for prefix, entry in _piece_entries(manifest).items():
            found.update({prefix + k: v for k, v in _piece_tensors(z, entry).items()})
    state = student.state_dict()
    unknown = sorted(set(found) - set(state))
    if unknown:
        raise ValueError(f"{model}: initializers {unknown[:5]} match no student weight; the .moedet and esmoe.py "
                         "describe different architectures")
    params = {k for k, _ in student.named_parameters()}
    missing = sorted(params - set(found))
    if missing:
        raise ValueError(f"{model}: no initializer for {missing[:5]}: the pieces lack weights the student needs")
    # Buffers not in a piece are ones the piece never reads (e.g. `keep` of an expert that keeps every channel);
    # they stay as derived from the teacher.
    for k, v in found.items():
        if v.shape != state[k].shape:
            raise ValueError(f"{model}: {k} has shape {tuple(v.shape)}, the student expects {tuple(state[k].shape)}")
        state[k] = v.to(state[k].dtype)
    student.load_state_dict(state)
    return student.eval(), routing_of(manifest)


def _rgb(png_b64: str) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(base64.b64decode(png_b64), np.uint8), cv2.IMREAD_COLOR)
    return bgr[:, :, ::-1].copy()


def verify(student: ESMoEStudent, routing: Routing, vectors_path: Path) -> dict:
    """Max abs differences of the loaded student vs the parity vectors, over all their images."""
    vectors = json.loads(vectors_path.read_text())
    images = vectors["images"]
    x = torch.from_numpy(np.stack([_rgb(im["png_base64"]) for im in images])).float()
    with torch.no_grad():
        r = student(x, mode="sparse", routing=routing)
    det = r.detections.numpy()
    want = np.array([im["detections"] for im in images], np.float32)
    scored = want[..., 4] >= 0.05
    return {
        "images": [im["name"] for im in images],
        "router_logits_max_abs": max(float(np.abs(r.logits[k].numpy() - np.array([im["router_logits"][k] for im in images])).max())
                                     for k in r.logits),
        "same_experts": all(bool(((r.weights[k].numpy() > 0) == (np.array([im["expert_weights"][k] for im in images]) > 0)).all())
                            for k in r.weights),
        "executed_gflops_max_abs": float(np.abs(student.executed_gflops(r.weights).numpy()
                                                - np.array([im["executed_gflops"] for im in images])).max()),
        # vectors are rounded to 4 decimals
        "detections_max_abs": float(np.abs(det - want).max()),
        "scored_detections": int(scored.sum()),
        "scored_score_max_abs": float(np.abs(det[..., 4] - want[..., 4])[scored].max()),
        "scored_box_max_abs": float(np.abs(det[..., :4] - want[..., :4])[scored].max()),
        "scored_same_classes": bool((det[..., 5] == want[..., 5])[scored].all()),
    }


def main():
    ap = argparse.ArgumentParser(description="Load the ES-MoE student from a .moedet and check it on parity vectors")
    ap.add_argument("--teacher", type=Path, required=True, help="centernet.json (scripts/fetch-teacher)")
    ap.add_argument("--model", type=Path, default=Path("models/esmoe-centernet.moedet"))
    ap.add_argument("--verify", type=Path, required=True, help="parity vectors JSON (models/esmoe-parity-vectors.json)")
    a = ap.parse_args()
    student, routing = load_moedet_student(a.teacher, a.model)
    print(json.dumps(verify(student, routing, a.verify)))


if __name__ == "__main__":
    main()
