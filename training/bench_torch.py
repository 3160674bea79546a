"""PyTorch latency/throughput of the networks `moedetect bench` times, with the same architecture and weights.

Models (--model, comma-separated):
  teacher   MobileNetV3-CenterNet from the TF.js files (= models/centernet-mnv3.onnx)
  student   the ES-MoE student with the weights of models/esmoe-centernet.moedet (moedet_weights.py)
  yolov8n   the YOLOv8n-shaped detector of yolov8n.py (random weights, seed 0; = the exported yolov8n.onnx)
Engines: eager, and torch.compile(mode="reduce-overhead") (Inductor + CUDA graphs, static shapes). The sparse
student routes per image, so besides its eager run it has a variant with compiled segments (routers and chosen
experts stay eager) and the all-experts dense graph compiled.

Each row times two things:
  net  the network alone, input already on the device in the engine's dtype;
  e2e  from letterboxed 8-bit BGR HWC canvases in pinned host memory: upload, layout/normalise on the device,
       network, outputs (as float32) back to host memory, then wait; what moedetect bench's upload + preprocess +
       inference + download stages cover (its CPU decode/NMS has no counterpart here). Stage times come from
       CUDA events recorded between the stages of the same loop.
Frames come from `moedetect bench --save-frames` files (--frames-file, matched to the model by canvas size) or,
without one, are random (fixed seed). One JSON line per model × engine × batch on stdout; skipped rows say why.

GPU:  python3 training/bench_torch.py --model teacher,student,yolov8n --teacher centernet.json --frames-file f512.raw
CPU smoke (FP32, eager only): add --device cpu --batches 1 --min-iters 2
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

FRAMES_MAGIC = b"MDFRAMES"
RANDOM_FRAMES = 16


# ---------------------------------------------------------------- frames

def read_frames_file(path: Path) -> np.ndarray:
    """[count, H, W, 3] BGR uint8 canvases of a `moedetect bench --save-frames` file (BenchFrames.cs layout)."""
    with open(path, "rb") as f:
        if f.read(8) != FRAMES_MAGIC:
            raise ValueError(f"{path} is not a MoeDetect frames file (no MDFRAMES header); write one with bench --save-frames")
        version, count, width, height = np.frombuffer(f.read(16), "<i4")
        if version != 1:
            raise ValueError(f"{path}: frames file version {version}; this script reads version 1")
        frames = np.empty((count, height, width, 3), np.uint8)
        for i in range(count):
            f.read(8)  # the frame's source width and height: only for mapping boxes back
            data = f.read(3 * width * height)
            if len(data) != 3 * width * height:
                raise ValueError(f"{path}: frame {i} is cut short")
            frames[i] = np.frombuffer(data, np.uint8).reshape(height, width, 3)
    return frames


def frames_for(size: int, files: list[Path]) -> tuple[np.ndarray, str]:
    """The first frames file with size×size canvases, else RANDOM_FRAMES random canvases."""
    for path in files:
        frames = read_frames_file(path)
        if frames.shape[1:3] == (size, size):
            return frames, str(path)
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (RANDOM_FRAMES, size, size, 3), np.uint8), f"random {RANDOM_FRAMES}x{size}x{size}"


# ---------------------------------------------------------------- models and engines

@dataclass
class Subject:
    """A network as moedetect feeds it: input size, layout (NHWC RGB 0..255 or NCHW RGB 0..1), its engines."""
    name: str       # the model file it mirrors, as the merged table names it
    size: int
    nchw: bool
    engines: list[tuple[str, Callable[[], Callable]]]   # engine name → factory of fn(input) → output tensor
    describe: Callable[[torch.Tensor], dict] | None = None  # extra fields of a row, from the batch's input

    def preprocess(self, bgr_u8: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        rgb = bgr_u8.flip(-1)
        if self.nchw:
            return rgb.permute(0, 3, 1, 2).to(dtype).div_(255).contiguous()
        return rgb.to(dtype)


def compiled(module_or_fn) -> Callable:
    fn = torch.compile(module_or_fn, mode="reduce-overhead", dynamic=False)

    def run(x):
        # Tells the CUDA-graph trees a new iteration starts, so replays may reuse the previous outputs' memory.
        torch.compiler.cudagraph_mark_step_begin()
        return fn(x)
    return run


def detections_of(teacher_fn) -> Callable:
    """The teacher returns (heatmap, wh, detections); moedetect downloads the detections."""
    return lambda x: teacher_fn(x)[2]


def subjects(names: list[str], a, dev: torch.device, dtype: torch.dtype, suffix: str) -> list[Subject]:
    out = []
    for name in names:
        if name == "teacher":
            from teacher import CenterNetTeacher
            teacher = CenterNetTeacher(a.teacher).to(dev, dtype).eval()
            out.append(Subject("centernet-mnv3", 512, False, [
                (f"torch-eager-{suffix}", lambda: detections_of(teacher)),
                (f"torch-compiled-cudagraphs-{suffix}", lambda: detections_of(compiled(teacher))),
            ]))
        elif name == "student":
            out.append(student_subject(a, dev, dtype, suffix))
        elif name == "yolov8n":
            from yolov8n import IMGSZ, YoloV8n
            yolo = YoloV8n().to(dev, dtype).eval()
            out.append(Subject("yolov8n", IMGSZ, True, [
                (f"torch-eager-{suffix}", lambda: yolo),
                (f"torch-compiled-cudagraphs-{suffix}", lambda: compiled(yolo)),
            ]))
        else:
            raise SystemExit(f"unknown model {name!r}: use teacher, student or yolov8n")
    return out


def student_subject(a, dev, dtype, suffix) -> Subject:
    from esmoe import MoEStep
    from export import DenseStudent
    from moedet_weights import load_moedet_student
    student, routing = load_moedet_student(a.teacher, a.moedet)
    student = student.to(dev, dtype)

    def sparse(s):
        return lambda x: s(x, mode="sparse", routing=routing).detections

    def compiled_segments():
        s = copy.deepcopy(student)
        for step in s.steps:
            if not isinstance(step, MoEStep):
                step.module.forward = torch.compile(step.module.forward, mode="reduce-overhead", dynamic=False)

        def run(x):
            torch.compiler.cudagraph_mark_step_begin()
            return s(x, mode="sparse", routing=routing).detections
        return run

    def executed_gflops(x):
        """Mean GFLOPs per image the sparse student runs on this batch (routes depend on the images)."""
        weights = student(x, mode="sparse", routing=routing).weights
        return {"mean_executed_gflops": round(float(student.executed_gflops(weights).mean()), 4)}

    return Subject("esmoe-centernet", 512, False, [
        (f"torch-sparse-eager-{suffix}", lambda: sparse(student)),
        (f"torch-sparse-compiled-segments-{suffix}", compiled_segments),
        (f"torch-dense-compiled-cudagraphs-{suffix}", lambda: compiled(DenseStudent(student, routing.temperature))),
    ], executed_gflops)


# ---------------------------------------------------------------- timing

class Clock:
    """Wall time with the device drained first; stage stamps are CUDA events on a GPU (no sync between stages)."""

    def __init__(self, dev: torch.device):
        self.cuda = dev.type == "cuda"

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def stamp(self):
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def elapsed_ms(self, a, b) -> float:
        return a.elapsed_time(b) if self.cuda else (b - a) * 1000


def repeat_for(fn, min_s: float, min_iters: int, max_iters: int, clock: Clock) -> tuple[float, int]:
    """ms per call of fn, timed over at least min_iters calls and min_s seconds (at most max_iters calls)."""
    clock.sync()
    t0, n = time.perf_counter(), 0
    while n < min_iters or (time.perf_counter() - t0 < min_s and n < max_iters):
        fn(n)
        n += 1
    clock.sync()
    return (time.perf_counter() - t0) * 1000 / n, n


STAGES = ("upload", "preprocess", "inference", "download")


def bench_row(subject: Subject, engine: str, fn, frames: np.ndarray, batch: int, dev, dtype, a, clock: Clock) -> dict:
    pin = dev.type == "cuda"
    starts = [(i * batch) % len(frames) for i in range(3)]
    host = [torch.from_numpy(np.stack([frames[(s + j) % len(frames)] for j in range(batch)])) for s in starts]
    host = [h.pin_memory() if pin else h for h in host]
    device_u8 = torch.empty(host[0].shape, dtype=torch.uint8, device=dev)
    inputs = [subject.preprocess(h.to(dev), dtype) for h in host]
    with torch.no_grad():
        shape = fn(inputs[0]).shape
        host_out = torch.empty(shape, dtype=torch.float32, pin_memory=pin)
        for x in inputs + inputs:  # warm-up: compiles, records CUDA graphs, lets cuDNN pick algorithms
            fn(x)
        net_ms, net_iters = repeat_for(lambda i: fn(inputs[i % 3]), a.min_s, a.min_iters, a.max_iters, clock)

        stage_ms = dict.fromkeys(STAGES, 0.0)

        def e2e(i):
            t = [clock.stamp()]
            device_u8.copy_(host[i % 3], non_blocking=pin)
            t.append(clock.stamp())
            x = subject.preprocess(device_u8, dtype)
            t.append(clock.stamp())
            y = fn(x)
            t.append(clock.stamp())
            host_out.copy_(y.float(), non_blocking=pin)
            t.append(clock.stamp())
            clock.sync()  # the host needs the outputs before the next batch (as moedetect's decode does)
            for k, stage in enumerate(STAGES):
                stage_ms[stage] += clock.elapsed_ms(t[k], t[k + 1])

        for i in range(2):
            e2e(i)
        stage_ms.update(dict.fromkeys(STAGES, 0.0))
        e2e_ms, e2e_iters = repeat_for(e2e, a.min_s, a.min_iters, a.max_iters, clock)
        extra = subject.describe(inputs[0]) if subject.describe and "sparse" in engine else {}
    return {
        **extra,
        "net_ms_per_batch": round(net_ms, 3), "net_img_per_s": round(1000 * batch / net_ms, 1), "net_iters": net_iters,
        "e2e_ms_per_batch": round(e2e_ms, 3), "e2e_img_per_s": round(1000 * batch / e2e_ms, 1), "e2e_iters": e2e_iters,
        "stage_ms_per_batch": {k: round(v / e2e_iters, 3) for k, v in stage_ms.items()},
    }


def main():
    ap = argparse.ArgumentParser(description="PyTorch eager vs torch.compile(reduce-overhead) on moedetect's models")
    ap.add_argument("--model", default="teacher,student,yolov8n", help="comma-separated: teacher, student, yolov8n")
    ap.add_argument("--teacher", type=Path, help="centernet.json (scripts/fetch-teacher); teacher and student need it")
    ap.add_argument("--moedet", type=Path, default=Path(__file__).resolve().parents[1] / "models/esmoe-centernet.moedet")
    ap.add_argument("--frames-file", type=Path, action="append", default=[],
                    help="`moedetect bench --save-frames` file; give one per input size (512, 640); else random frames")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--engines", default="", help="comma-separated parts of engine names to run (e.g. eager,dense-compiled); default all")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: FP32 eager only (smoke test)")
    ap.add_argument("--budget-s", type=float, default=240, help="rows that would start after this many seconds are skipped")
    ap.add_argument("--min-s", type=float, default=1.0, help="time each measurement for at least this long")
    ap.add_argument("--min-iters", type=int, default=10)
    ap.add_argument("--max-iters", type=int, default=300)
    a = ap.parse_args()
    names = [m.strip() for m in a.model.split(",") if m.strip()]
    if {"teacher", "student"} & set(names) and a.teacher is None:
        raise SystemExit("--teacher centernet.json is needed for the teacher and the student (run scripts/fetch-teacher)")
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: pass --device cpu for the CPU smoke test")
    t_start = time.time()
    dev = torch.device(a.device)
    dtype, suffix = (torch.float16, "fp16") if dev.type == "cuda" else (torch.float32, "fp32")
    torch.backends.cudnn.benchmark = True
    clock = Clock(dev)
    batches = [int(b) for b in a.batches.split(",")]
    device_name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    wanted = [e.strip() for e in a.engines.split(",") if e.strip()]

    for subject in subjects(names, a, dev, dtype, suffix):
        frames, frames_origin = frames_for(subject.size, a.frames_file)
        for engine, factory in subject.engines:
            if wanted and not any(w in engine for w in wanted):
                continue
            common = {"bench": "torch", "model": subject.name, "engine": engine, "device": device_name,
                      "torch": torch.__version__, "frames": frames_origin}
            if "compiled" in engine and (dev.type != "cuda" or not hasattr(torch, "compile")):
                for b in batches:
                    print(json.dumps({**common, "batch": b, "skipped": "torch.compile with CUDA graphs needs torch 2 and a CUDA device"}), flush=True)
                continue
            try:
                fn = factory()
            except Exception as e:  # report, keep benchmarking the other engines
                for b in batches:
                    print(json.dumps({**common, "batch": b, "error": f"{type(e).__name__}: {str(e)[:300]}"}), flush=True)
                continue
            for b in batches:
                if time.time() - t_start > a.budget_s:
                    print(json.dumps({**common, "batch": b, "skipped": f"time budget ({a.budget_s:.0f} s) spent"}), flush=True)
                    continue
                row = {**common, "batch": b}
                t_row = time.time()
                try:
                    row.update(bench_row(subject, engine, fn, frames, b, dev, dtype, a, clock))
                except Exception as e:  # report, keep benchmarking the other batches and engines
                    row["error"] = f"{type(e).__name__}: {str(e)[:300]}"
                row["row_seconds"] = round(time.time() - t_row, 1)
                print(json.dumps(row), flush=True)
    print(f"bench_torch: {time.time() - t_start:.1f} s on {device_name}, torch {torch.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
