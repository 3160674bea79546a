"""YOLOv8n as Ultralytics exports it, for benchmarking: same layers, shapes and output, random weights.

Architecture of ultralytics/cfg/models/v8/yolov8.yaml at scale n (depth 0.33, width 0.25): Conv(k, s) + SiLU,
C2f, SPPF, PAN-FPN neck, decoupled head with DFL (reg_max 16), 80 classes, 640×640 → 3.15 M parameters,
8.7 GFLOPs. The form is the exported one: Ultralytics fuses every BatchNorm into its conv before export, so each
Conv here is a conv with bias followed by SiLU. There are no pretrained YOLO weights in this project, so the weights
are PyTorch's default initialisation from a fixed seed (with Ultralytics' head bias initialisation): the timing is
that of the real network, the detections are meaningless.

`export_onnx` writes what `yolo export format=onnx opset=17 dynamic` users get for the batch axis: input "images"
[N,3,640,640] (RGB 0..1), output "output0" [N,84,8400] (cx, cy, w, h in input pixels, then 80 sigmoid class
scores), Ultralytics metadata (names as a Python dict string, stride, imgsz, task, batch), so MoeDetect's loader
treats the file as an Ultralytics YOLOv8 export.

python3 training/yolov8n.py --out yolov8n.onnx
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn as nn

from flops import conv_gflops

COCO80 = ("person|bicycle|car|motorcycle|airplane|bus|train|truck|boat|traffic light|fire hydrant|stop sign|"
          "parking meter|bench|bird|cat|dog|horse|sheep|cow|elephant|bear|zebra|giraffe|backpack|umbrella|handbag|"
          "tie|suitcase|frisbee|skis|snowboard|sports ball|kite|baseball bat|baseball glove|skateboard|surfboard|"
          "tennis racket|bottle|wine glass|cup|fork|knife|spoon|bowl|banana|apple|sandwich|orange|broccoli|carrot|"
          "hot dog|pizza|donut|cake|chair|couch|potted plant|bed|dining table|toilet|tv|laptop|mouse|remote|"
          "keyboard|cell phone|microwave|oven|toaster|sink|refrigerator|book|clock|vase|scissors|teddy bear|"
          "hair drier|toothbrush").split("|")
IMGSZ = 640
STRIDES = (8, 16, 32)
REG_MAX = 16
SEED = 0


class Conv(nn.Module):
    """Ultralytics Conv after fusion: k×k conv ('same' padding) with bias, then SiLU."""

    def __init__(self, cin, cout, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2, bias=True)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.conv(x))


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut):
        super().__init__()
        self.cv1, self.cv2 = Conv(c, c, 3), Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """1×1 to 2c, split, n bottlenecks on the second half keeping every intermediate, concat, 1×1."""

    def __init__(self, cin, cout, n, shortcut):
        super().__init__()
        c = cout // 2
        self.cv1 = Conv(cin, 2 * c, 1)
        self.cv2 = Conv((2 + n) * c, cout, 1)
        self.m = nn.ModuleList(Bottleneck(c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, cin, cout, k=5):
        super().__init__()
        c = cin // 2
        self.cv1, self.cv2 = Conv(cin, c, 1), Conv(4 * c, cout, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


def make_anchors(imgsz: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor centres [2, A] (in grid cells, +0.5) and their strides [1, A], levels P3..P5 in order."""
    points, strides = [], []
    for s in STRIDES:
        n = imgsz // s
        sy, sx = torch.meshgrid(torch.arange(n) + 0.5, torch.arange(n) + 0.5, indexing="ij")
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        strides.append(torch.full((n * n, 1), float(s)))
    return torch.cat(points).t().contiguous(), torch.cat(strides).t().contiguous()


class Detect(nn.Module):
    """Decoupled head: per level a box branch (4×16 DFL logits) and a class branch; decoded as Ultralytics'
    export does: DFL expectation → ltrb distances → xywh × stride, class sigmoid."""

    def __init__(self, nc, ch, imgsz):
        super().__init__()
        self.nc = nc
        c2, c3 = max(16, ch[0] // 4, 4 * REG_MAX), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * REG_MAX, 1)) for c in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for c in ch)
        self.dfl = nn.Conv2d(REG_MAX, 1, 1, bias=False).requires_grad_(False)
        self.dfl.weight.data[:] = torch.arange(REG_MAX, dtype=torch.float).view(1, REG_MAX, 1, 1)
        anchors, strides = make_anchors(imgsz)
        self.register_buffer("anchors", anchors, persistent=False)
        self.register_buffer("strides", strides, persistent=False)
        with torch.no_grad():  # Ultralytics' Detect.bias_init
            for a, b, s in zip(self.cv2, self.cv3, STRIDES):
                a[-1].bias[:] = 1.0
                b[-1].bias[:nc] = math.log(5 / nc / (imgsz / s) ** 2)

    def forward(self, feats):
        n = feats[0].shape[0]
        x = torch.cat([torch.cat((a(f), b(f)), 1).view(n, 4 * REG_MAX + self.nc, -1)
                       for f, a, b in zip(feats, self.cv2, self.cv3)], 2)
        if not torch.jit.is_tracing() and x.shape[2] != self.anchors.shape[1]:
            raise ValueError(f"input gives {x.shape[2]} anchors; this head was built for {self.anchors.shape[1]} "
                             f"(rebuild YoloV8n with imgsz equal to the input size)")
        box, cls = x.split((4 * REG_MAX, self.nc), 1)
        a = box.shape[2]
        dist = self.dfl(box.view(n, 4, REG_MAX, a).transpose(2, 1).softmax(1)).view(n, 4, a)
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = self.anchors - lt, self.anchors + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * self.strides
        return torch.cat((xywh, cls.sigmoid()), 1)


class YoloV8n(nn.Module):
    """images [N,3,S,S] RGB 0..1 → [N, 4 + 80, A] (A = 8400 at 640)."""

    def __init__(self, nc: int = len(COCO80), imgsz: int = IMGSZ, seed: int = SEED):
        super().__init__()
        torch.manual_seed(seed)
        self.backbone = nn.ModuleList([
            Conv(3, 16, 3, 2), Conv(16, 32, 3, 2), C2f(32, 32, 1, True),         # P2/4
            Conv(32, 64, 3, 2), C2f(64, 64, 2, True),                              # P3/8
            Conv(64, 128, 3, 2), C2f(128, 128, 2, True),                           # P4/16
            Conv(128, 256, 3, 2), C2f(256, 256, 1, True), SPPF(256, 256)])         # P5/32
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.top_down4 = C2f(256 + 128, 128, 1, False)
        self.top_down3 = C2f(128 + 64, 64, 1, False)
        self.down3 = Conv(64, 64, 3, 2)
        self.bottom_up4 = C2f(64 + 128, 128, 1, False)
        self.down4 = Conv(128, 128, 3, 2)
        self.bottom_up5 = C2f(128 + 256, 256, 1, False)
        self.detect = Detect(nc, (64, 128, 256), imgsz)

    def forward(self, x):
        taps = {}
        for i, m in enumerate(self.backbone):
            x = m(x)
            taps[i] = x
        p5 = x
        n4 = self.top_down4(torch.cat((self.up(p5), taps[6]), 1))
        n3 = self.top_down3(torch.cat((self.up(n4), taps[4]), 1))
        o4 = self.bottom_up4(torch.cat((self.down3(n3), n4), 1))
        o5 = self.bottom_up5(torch.cat((self.down4(o4), p5), 1))
        return self.detect([n3, o4, o5])


def _trace_to_onnx(model: YoloV8n, path: Path, imgsz: int) -> None:
    """The TorchScript exporter (what Ultralytics uses); where a newer torch has dropped it, the dynamo exporter."""
    args = dict(input_names=["images"], output_names=["output0"], opset_version=17,
                dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}})
    x = (torch.zeros(1, 3, imgsz, imgsz),)
    if "dynamo" not in torch.onnx.export.__code__.co_varnames:
        torch.onnx.export(model, x, str(path), do_constant_folding=True, **args)
        return
    try:
        torch.onnx.export(model, x, str(path), do_constant_folding=True, dynamo=False, **args)
    except Exception as e:  # the TorchScript exporter is gone or broken in this torch: use dynamo's
        print(f"yolov8n: TorchScript ONNX export failed ({type(e).__name__}: {e}); using the dynamo exporter",
              file=sys.stderr)
        torch.onnx.export(model, x, str(path), dynamo=True, **args)


def export_onnx(model: YoloV8n, path: Path, imgsz: int = IMGSZ) -> None:
    """ONNX as `yolo export format=onnx opset=17` writes it, with a dynamic batch axis."""
    import onnx
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        _trace_to_onnx(model.eval(), path, imgsz)
    m = onnx.load(str(path))
    # The tracer leaves the channel and anchor axes symbolic; Ultralytics' file has them fixed, which ONNX Runtime
    # needs for CUDA graphs (static output shapes).
    fixed = (4 + model.detect.nc, model.detect.anchors.shape[1])
    for dim, size in zip(m.graph.output[0].type.tensor_type.shape.dim[1:], fixed):
        dim.dim_value = size
    metadata = {
        "description": "YOLOv8n architecture, random weights (seed %d): for benchmarking only" % SEED,
        "author": "MoeDetect training/yolov8n.py", "license": "AGPL-3.0 (Ultralytics architecture)",
        "stride": str(max(STRIDES)), "task": "detect", "batch": "1", "imgsz": str([imgsz, imgsz]),
        "names": str(dict(enumerate(COCO80))),
    }
    for k, v in metadata.items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))


def main():
    ap = argparse.ArgumentParser(description="Export the YOLOv8n-shaped benchmark detector to ONNX")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    model = YoloV8n().eval()
    export_onnx(model, a.out)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    gflops = sum(conv_gflops(model, torch.zeros(1, 3, IMGSZ, IMGSZ)).values())
    report = {"onnx": str(a.out), "bytes": a.out.stat().st_size, "params": params, "gflops_640": round(gflops, 3),
              "torch": torch.__version__}
    report.update(onnx_vs_torch(model, a.out))
    print(json.dumps(report))


def onnx_vs_torch(model: YoloV8n, path: Path) -> dict:
    """Max abs difference of the exported graph (onnxruntime CPU, batch 2) vs the module, where onnxruntime exists."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {"onnxruntime_check": "skipped: no onnxruntime"}
    x = torch.rand(2, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(1))
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["output0"], {"images": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    return {"onnxruntime_max_abs_diff_boxes_px": float(abs(got[:, :4] - want[:, :4]).max()),
            "onnxruntime_max_abs_diff_scores": float(abs(got[:, 4:] - want[:, 4:]).max())}


if __name__ == "__main__":
    main()
