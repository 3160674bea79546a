"""PyTorch CUDA latency/throughput of the teacher and the trained ES-MoE student (same weights as the .moedet).

Engines: eager FP16, and torch.compile(mode="reduce-overhead") (CUDA graphs). The sparse student routes per image,
so its compiled variant compiles the dense segments (static shapes) and runs routers and chosen experts eagerly;
`student-dense-compiled` is the all-experts graph for comparison. Prints one JSON line per engine and batch:
{engine, batch, ms_per_batch, img_per_s, ...}. Inputs are real letterboxed images from the pack.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from data import Pack
from esmoe import ESMoEStudent, MoEStep, Routing
from export import DenseStudent, load_student
from teacher import CenterNetTeacher


def timed(fn, batches, repeats: int) -> float:
    for x in batches:  # warm-up: compiles, records CUDA graphs, autotunes
        fn(x)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        for x in batches:
            fn(x)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1000 / (repeats * len(batches))


def compile_segments(student: ESMoEStudent):
    for s in student.steps:
        if not isinstance(s, MoEStep):
            s.module.forward = torch.compile(s.module.forward, mode="reduce-overhead", dynamic=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--budget-s", type=float, default=240, help="skip what would start after this many seconds")
    a = ap.parse_args()
    t_start = time.time()
    dev = torch.device("cuda")
    pack = Pack(a.pack)
    pool = pack.indices("video:")[::7] + pack.indices("coco")
    routing = Routing()
    teacher = CenterNetTeacher(a.teacher).to(dev).half().eval()
    student = load_student(a.teacher, a.checkpoint).to(dev).half().eval()
    sizes = [int(b) for b in a.batches.split(",")]
    data = {b: [pack.batch(pool[i * b:(i + 1) * b]).to(dev).half() for i in range(3)] for b in sizes}

    def engines():
        yield "teacher-eager-fp16", lambda x: teacher(x)[2]
        yield "student-sparse-eager-fp16", lambda x: student(x, mode="sparse", routing=routing).detections
        tc = torch.compile(teacher, mode="reduce-overhead")
        yield "teacher-compiled-cudagraphs-fp16", lambda x: tc(x)[2]
        dense = torch.compile(DenseStudent(student, routing.temperature), mode="reduce-overhead")
        yield "student-dense-compiled-cudagraphs-fp16", lambda x: dense(x)
        compile_segments(student)
        yield "student-sparse-compiled-segments-fp16", lambda x: student(x, mode="sparse", routing=routing).detections

    with torch.no_grad():
        for name, fn in engines():
            for b in sizes:
                if time.time() - t_start > a.budget_s:
                    print(json.dumps({"engine": name, "batch": b, "skipped": "time budget"}), flush=True)
                    continue
                try:
                    ms = timed(fn, data[b], repeats=5 if b < 32 else 3)
                    row = {"engine": name, "batch": b, "ms_per_batch": round(ms, 3), "img_per_s": round(1000 * b / ms, 1)}
                    if name.startswith("student-sparse"):
                        r = student(data[b][0], mode="sparse", routing=routing)
                        row["mean_executed_gflops"] = round(float(student.executed_gflops(r.weights).mean()), 4)
                except Exception as e:  # report, keep benchmarking the other engines
                    row = {"engine": name, "batch": b, "error": f"{type(e).__name__}: {str(e)[:200]}"}
                print(json.dumps(row), flush=True)
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                      "seconds": round(time.time() - t_start, 1)}))


if __name__ == "__main__":
    main()
