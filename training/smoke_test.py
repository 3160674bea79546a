"""Smoke test (CPU < 1 min, or GPU): teacher loads, the student with every route forced to the full expert equals
the teacher, two training steps on real images run and change the routers, sparse inference runs.

python3 training/smoke_test.py --teacher /path/centernet.json --pack pack.npz
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from data import Pack
from esmoe import ESMoEStudent
from teacher import CenterNetTeacher
from train import load_images, train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", type=Path, required=True)
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--config", type=Path, default=Path(__file__).with_name("config.json"))
    a = ap.parse_args()
    t0 = time.time()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # exact comparison below
    pack = Pack(a.pack)
    teacher = CenterNetTeacher(a.teacher).to(dev).eval()
    student = ESMoEStudent(a.teacher).to(dev)
    x = pack.batch(pack.indices("coco-holdout")[:2]).to(dev)

    with torch.no_grad():
        heat, wh, det = teacher(x)
        saved = [s.router.fc2.bias.detach().clone() for s in student.moe_steps]
        for s in student.moe_steps:
            s.router.fc2.bias.data[0] = 50.0  # every image takes the full (teacher-copy) expert
        r = student.eval()(x, mode="sparse")
        diff = (r.heat - heat).abs().max().item()
        assert diff < 1e-4, f"full-route student differs from teacher by {diff}"
        assert torch.allclose(student.executed_gflops(r.weights).cpu().float(), torch.tensor(student.full_gflops()).float())
        for s, b in zip(student.moe_steps, saved):
            s.router.fc2.bias.data.copy_(b)

    cfg = json.loads(a.config.read_text())
    cfg.update(batch=2, warmup_steps=1)
    before = [s.router.fc2.weight.detach().clone() for s in student.moe_steps]
    # two images only: the pack's full decode would dominate a CPU smoke run
    small = Pack.__new__(Pack)
    small.__dict__.update(pack.__dict__)
    keep = pack.indices("coco-train")[:2] + pack.indices("video:")[:2]
    small.source, small.labels = pack.source[keep], [pack.labels[i] for i in keep]
    images = torch.stack([torch.from_numpy(pack.image(i)) for i in keep]).to(dev)
    out = Path("/tmp/esmoe-smoke")
    out.mkdir(exist_ok=True)
    steps = train(student.train(), teacher, small, images, cfg, out, max_steps=2, log=lambda s: None)
    moved = sum((s.router.fc2.weight - b).abs().sum().item() for s, b in zip(student.moe_steps, before))
    assert steps == 2 and moved > 0, "training steps did not update the routers"
    with torch.no_grad():
        r = student.eval()(x, mode="sparse")
    g = student.executed_gflops(r.weights)
    print(json.dumps({"teacher_vs_full_route_max_abs_diff": diff, "train_steps": steps, "router_update": moved,
                      "sparse_gflops": g.tolist(), "teacher_gflops": student.full_gflops(),
                      "detections": list(r.detections.shape), "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
