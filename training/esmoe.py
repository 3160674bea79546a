"""ES-MoE student upcycled from the MobileNetV3-CenterNet teacher.

The network is an ordered list of steps, exactly as the .moedet manifest describes it (docs/model-format.md):
`Segment` steps (plain sub-networks) and `MoEStep`s (a per-image router plus experts of different cost, all
initialised from the teacher's own block). The same step list is what export.py writes, so PyTorch and the
exported pieces cannot drift apart.

Experts per MoE step (see `build_experts`):
  inverted-residual block: full copy | half the expanded channels (most important kept) | a quarter of them
  (with the depthwise 5×5 cut to its central 3×3 in 5×5 blocks: "quarter-3x3") | identity (residual blocks only)
  head upsampling block (sum of a 3×3 and a 5×5 separable branch): full | 3×3 branch only | 3×3 branch on the most
  important half of the input channels
  class head (separable 3×3 → 80 logits): full | most important half | most important quarter of the input channels
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from flops import conv_gflops
from teacher import (CenterNetTeacher, InvertedResidual, SepConv, UpBranches, decode, to_network_input,
                     upsample2x, TAP_C2_EXPANDED, TAP_C3_EXPANDED)

SIZE = 512


# ---------------------------------------------------------------- experts derived from teacher blocks

def _keep_top(importance: torch.Tensor, n: int) -> torch.Tensor:
    return importance.topk(n).indices.sort().values


def slim_inverted_residual(block: InvertedResidual, keep_fraction: float, kernel: int) -> InvertedResidual:
    """Copy of `block` with only the most important expanded channels (‖expand row‖·‖dw‖·‖project col‖),
    and optionally the centre of the depthwise kernel (5×5 → 3×3)."""
    n = max(8, int(round(block.cexp * keep_fraction / 8)) * 8)
    imp = block.depthwise.conv.weight.flatten(1).norm(dim=1) * block.project.conv.weight.flatten(1).norm(dim=0)
    if block.expand is not None:
        imp = imp * block.expand.conv.weight.flatten(1).norm(dim=1)
    keep = _keep_top(imp.detach(), n)
    m = InvertedResidual(block.cin, n, block.cout, kernel, block.stride, block.act_kind, block.se_mid,
                         block.residual, block.expand is not None, block.hs_scale)
    with torch.no_grad():
        if block.expand is not None:
            m.expand.conv.weight.copy_(block.expand.conv.weight[keep])
            m.expand.conv.bias.copy_(block.expand.conv.bias[keep])
        off = (block.k - kernel) // 2
        m.depthwise.conv.weight.copy_(block.depthwise.conv.weight[keep][:, :, off:off + kernel, off:off + kernel])
        m.depthwise.conv.bias.copy_(block.depthwise.conv.bias[keep])
        if block.se is not None:
            m.se.reduce.weight.copy_(block.se.reduce.weight[:, keep])
            m.se.reduce.bias.copy_(block.se.reduce.bias)
            m.se.expand.weight.copy_(block.se.expand.weight[keep])
            m.se.expand.bias.copy_(block.se.expand.bias[keep])
        m.project.conv.weight.copy_(block.project.conv.weight[:, keep])
        m.project.conv.bias.copy_(block.project.conv.bias)
    return m


class Identity(nn.Module):
    """Skip expert of a residual block: the block adds nothing."""

    def forward(self, x):
        return x


class PickedSepConv(nn.Module):
    """Separable conv on a subset of the input channels (the most important ones of the teacher's)."""

    def __init__(self, sep: SepConv, keep: torch.Tensor | None, bias_extra: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("keep", keep if keep is not None else torch.arange(sep.dw.conv.in_channels))
        cin = len(self.keep)
        cout, k = sep.pw.conv.out_channels, sep.dw.k
        self.sep = SepConv(cin, cout, k)
        with torch.no_grad():
            self.sep.dw.conv.weight.copy_(sep.dw.conv.weight[self.keep])
            self.sep.pw.conv.weight.copy_(sep.pw.conv.weight[:, self.keep])
            self.sep.pw.conv.bias.copy_(sep.pw.conv.bias + (bias_extra if bias_extra is not None else 0))

    def forward(self, x):
        if len(self.keep) != x.shape[1]:
            x = x.index_select(1, self.keep)
        return self.sep(x)


def sep_importance(sep: SepConv) -> torch.Tensor:
    return (sep.dw.conv.weight.flatten(1).norm(dim=1) * sep.pw.conv.weight.flatten(1).norm(dim=0)).detach()


class Upsampled(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return upsample2x(self.inner(x))


def build_experts(kind: str, block: nn.Module) -> tuple[list[str], list[nn.Module]]:
    if kind == "ir":
        names = ["full", "half"]
        experts = [copy.deepcopy(block), slim_inverted_residual(block, 0.5, block.k)]
        names.append("quarter-3x3" if block.k == 5 else "quarter")
        experts.append(slim_inverted_residual(block, 0.25, 3))
        if block.residual:
            names.append("skip")
            experts.append(Identity())
        return names, experts
    if kind == "up":
        assert isinstance(block, UpBranches)
        half = _keep_top(sep_importance(block.branch_x), block.cin // 2)
        extra = block.branch_y.pw.conv.bias.detach()
        return ["full", "3x3", "3x3-half"], [copy.deepcopy(block),
                                             Upsampled(PickedSepConv(block.branch_x, None, extra)),
                                             Upsampled(PickedSepConv(block.branch_x, half, extra))]
    if kind == "cls":
        assert isinstance(block, SepConv)
        imp, cin = sep_importance(block), block.dw.conv.in_channels
        return ["full", "half", "quarter"], [copy.deepcopy(block), PickedSepConv(block, _keep_top(imp, cin // 2)),
                                             PickedSepConv(block, _keep_top(imp, cin // 4))]
    raise ValueError(f"unknown MoE block kind {kind!r}: use ir, up or cls")


# ---------------------------------------------------------------- router and MoE step

class Router(nn.Module):
    """Global average pool → 1×1 conv → ReLU → 1×1 conv to E logits: one decision per image."""

    def __init__(self, cin: int, experts: int, hidden: int = 0):
        super().__init__()
        hidden = hidden or max(cin // 8, 16)
        self.fc1 = nn.Conv2d(cin, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, experts, 1)
        # Start near-uniform so no expert is locked out before the router learns.
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))).flatten(1)


@dataclass
class Routing:
    """Inference routing, as in the manifest: top-k or top-p over softmax(logits / temperature)."""
    mode: str = "top-k"
    k: int = 1
    p: float = 0.6
    temperature: float = 1.0
    min_weight: float = 0.0

    def weights(self, logits: torch.Tensor) -> torch.Tensor:
        """[N,E] logits → [N,E] renormalised weights, zero for experts that are not run."""
        prob = F.softmax(logits.float() / self.temperature, -1)
        order = prob.argsort(-1, descending=True)
        sorted_p = prob.gather(-1, order)
        rank = torch.arange(prob.shape[-1], device=prob.device).expand_as(prob)
        if self.mode == "top-k":
            keep_sorted = rank < self.k
        elif self.mode == "top-p":
            before = sorted_p.cumsum(-1) - sorted_p  # probability mass of the experts ranked above
            keep_sorted = (before < self.p) | (rank == 0)
        else:
            raise ValueError(f"routing mode {self.mode!r}: use top-k or top-p")
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        w = prob * keep
        w = w / w.sum(-1, keepdim=True)
        if self.min_weight > 0:
            top = F.one_hot(order[:, 0], prob.shape[-1]).bool()
            w = torch.where((w < self.min_weight) & ~top, torch.zeros_like(w), w)
            w = w / w.sum(-1, keepdim=True)
        return w


class MoEStep(nn.Module):
    def __init__(self, name: str, source: str, target: str, kind: str, block: nn.Module, cin: int):
        super().__init__()
        self.name, self.source, self.target, self.kind = name, source, target, kind
        self.expert_names, experts = build_experts(kind, block)
        self.experts = nn.ModuleList(experts)
        self.router = Router(cin, len(experts))
        self.gflops: list[float] = []
        self.router_gflops = 0.0

    def measure(self, x: torch.Tensor):
        self.router_gflops = sum(conv_gflops(self.router, x[:1]).values())
        self.gflops = [sum(conv_gflops(e, x[:1]).values()) for e in self.experts]

    def dense(self, x, weights):
        """Training: every expert runs; output = Σ w_i·expert_i(x). Also returns the expert outputs."""
        outs = [e(x) for e in self.experts]
        y = sum(w.view(-1, 1, 1, 1).to(o.dtype) * o for w, o in zip(weights.unbind(1), outs))
        return y, outs

    def sparse(self, x, weights):
        """Inference: run only the experts with non-zero weight, each once over the images that chose it."""
        y = None
        for i, e in enumerate(self.experts):
            rows = (weights[:, i] > 0).nonzero().flatten()
            if len(rows) == 0:
                continue
            o = e(x.index_select(0, rows)) * weights.index_select(0, rows)[:, i].view(-1, 1, 1, 1).to(x.dtype)
            if y is None:
                y = torch.zeros((x.shape[0],) + o.shape[1:], dtype=o.dtype, device=o.device)
            y.index_add_(0, rows, o)
        return y


# ---------------------------------------------------------------- segments (the dense parts)

class Stem(nn.Module):
    def __init__(self, t: CenterNetTeacher):
        super().__init__()
        self.stem, self.block0 = t.backbone.stem, t.backbone.blocks[0]

    def forward(self, images):
        return self.block0(self.stem(to_network_input(images)))


class Middle(nn.Module):
    """Blocks 3..9; returns the expanded taps of blocks 3 and 5 for the head."""

    def __init__(self, t: CenterNetTeacher, first: int, last: int):
        super().__init__()
        self.first = first
        self.blocks = nn.ModuleList(t.backbone.blocks[first:last + 1])

    def forward(self, x):
        taps = {}
        for i, blk in enumerate(self.blocks, self.first):
            if i in (TAP_C2_EXPANDED, TAP_C3_EXPANDED):
                taps[i] = blk.expand(x)
                x = blk.from_expanded(taps[i], x)
            else:
                x = blk(x)
        return taps[TAP_C2_EXPANDED], taps[TAP_C3_EXPANDED], x


class HeadTop(nn.Module):
    def __init__(self, t: CenterNetTeacher):
        super().__init__()
        self.extern1, self.c4, self.up5 = t.backbone.extern1, t.head.c4, t.head.up5

    def forward(self, c4, c5):
        return F.relu(torch.cat([self.c4(c4), self.up5(self.extern1(c5))], 1))


class Lateral(nn.Module):
    """relu(cat(lateral(tap), upsampled)) — the fusion after up4 (with c3) and after up3 (with c2, then SE)."""

    def __init__(self, lateral: nn.Module, se: nn.Module | None = None):
        super().__init__()
        self.lateral, self.se = lateral, se

    def forward(self, tap, up):
        p = F.relu(torch.cat([self.lateral(tap), up], 1))
        return self.se(p) if self.se is not None else p


class Outputs(nn.Module):
    """Heatmap sigmoid, wh, and the CenterNet decode to detections [N,100,6]."""

    def __init__(self, t: CenterNetTeacher):
        super().__init__()
        self.wh, self.wh_scale = t.head.wh, t.head.wh_scale

    def maps(self, p, cls_logits):
        return torch.sigmoid(cls_logits).permute(0, 2, 3, 1), (self.wh(p) * self.wh_scale).permute(0, 2, 3, 1)

    def forward(self, p, cls_logits):
        heat, wh = self.maps(p, cls_logits)
        return decode(heat, wh)


@dataclass
class Segment:
    name: str
    module: nn.Module
    inputs: list[str]
    outputs: list[str]
    gflops: float = 0.0


@dataclass
class Result:
    heat: torch.Tensor
    wh: torch.Tensor
    detections: torch.Tensor | None
    logits: dict[str, torch.Tensor] = field(default_factory=dict)
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    expert_outputs: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    step_inputs: dict[str, torch.Tensor] = field(default_factory=dict)


MOE_BLOCKS = (1, 2, 10, 11, 12, 13, 14)


class ESMoEStudent(nn.Module):
    def __init__(self, teacher_json, moe_blocks=MOE_BLOCKS, moe_head=("up4", "up3", "cls")):
        super().__init__()
        t = CenterNetTeacher(teacher_json)
        b = t.backbone.blocks
        self.classes = t.classes
        steps: list = [Segment("stem", Stem(t), ["images"], ["x0"])]
        name = "x0"

        def block_step(i, src):
            dst = f"x{i}"
            steps.append(MoEStep(f"block{i}", src, dst, "ir", b[i], b[i].cin))
            return dst

        def plain(i, src):
            dst = f"x{i}"
            steps.append(Segment(f"block{i}", b[i], [src], [dst]))
            return dst

        for i in (1, 2):
            name = block_step(i, name) if i in moe_blocks else plain(i, name)
        steps.append(Segment("middle", Middle(t, 3, 9), [name], ["e3", "e5", "x9"]))
        name = "x9"
        for i in range(10, 15):
            name = block_step(i, name) if i in moe_blocks else plain(i, name)
        steps.append(Segment("head_top", HeadTop(t), ["x11", name], ["p4"]))

        def head_step(tag, module, src, dst, kind, cin):
            if tag in moe_head:
                steps.append(MoEStep(tag, src, dst, kind, module, cin))
            else:
                steps.append(Segment(tag, module, [src], [dst]))

        head_step("up4", t.head.up4, "p4", "u4", "up", t.head.up4.cin)
        steps.append(Segment("fuse3", Lateral(t.head.c3), ["e5", "u4"], ["p3"]))
        head_step("up3", t.head.up3, "p3", "u3", "up", t.head.up3.cin)
        steps.append(Segment("fuse2", Lateral(t.head.c2, t.head.se), ["e3", "u3"], ["p2"]))
        head_step("cls", t.head.cls, "p2", "cls_logits", "cls", t.head.cls.dw.conv.in_channels)
        steps.append(Segment("outputs", Outputs(t), ["p2", "cls_logits"], ["detections"]))
        self.steps = steps
        # Register every trainable piece once, under its step's name.
        self.pieces = nn.ModuleDict({s.name: (s if isinstance(s, MoEStep) else s.module) for s in steps})
        self.measure()

    @property
    def moe_steps(self) -> list[MoEStep]:
        return [s for s in self.steps if isinstance(s, MoEStep)]

    @torch.no_grad()
    def measure(self):
        """GFLOPs of every segment, router and expert at 512×512 (batch 1)."""
        env = {"images": torch.zeros(1, SIZE, SIZE, 3)}
        for s in self.steps:
            if isinstance(s, MoEStep):
                s.measure(env[s.source])
                env[s.target] = s.experts[0](env[s.source])
            else:
                s.gflops = sum(conv_gflops(s.module, *[env[n] for n in s.inputs]).values())
                out = s.module(*[env[n] for n in s.inputs])
                for n, o in zip(s.outputs, out if isinstance(out, tuple) else (out,)):
                    env[n] = o

    def fixed_gflops(self) -> float:
        return sum(s.gflops for s in self.steps if isinstance(s, Segment)) + \
            sum(s.router_gflops for s in self.moe_steps)

    def full_gflops(self) -> float:
        return self.fixed_gflops() + sum(s.gflops[0] for s in self.moe_steps)

    def expected_gflops(self, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per image: fixed cost + Σ_steps Σ_i w_i·gflops_i (w = router probabilities → expected compute)."""
        total = self.fixed_gflops()
        for s in self.moe_steps:
            total = total + weights[s.name] @ torch.tensor(s.gflops, device=weights[s.name].device)
        return total

    def executed_gflops(self, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per image: what sparse inference actually ran (experts with non-zero weight)."""
        return self.expected_gflops({k: (w > 0).float() for k, w in weights.items()})

    def forward(self, images, mode: str = "sparse", routing: Routing | None = None, hard_noise: float = 0.0,
                want_detections: bool = True) -> Result:
        """mode 'sparse' (inference: only chosen experts run), 'soft' (dense, weights = router probabilities) or
        'hard' (dense compute, straight-through top-1 weights: forward uses the chosen expert, gradient reaches
        the router through the probabilities)."""
        routing = routing or Routing()
        env = {"images": images}
        res = Result(None, None, None)
        for s in self.steps:
            if isinstance(s, MoEStep):
                x = env[s.source]
                logits = s.router(x)
                res.logits[s.name] = logits
                if mode == "sparse":
                    w = routing.weights(logits)
                    env[s.target] = s.sparse(x, w)
                else:
                    prob = F.softmax(logits.float() / routing.temperature, -1)
                    if mode == "hard":
                        noisy = logits.float() + hard_noise * -torch.log(-torch.log(torch.rand_like(prob).clamp(1e-6, 1 - 1e-6)))
                        one = F.one_hot(noisy.argmax(-1), prob.shape[-1]).float()
                        w = one + prob - prob.detach()
                    else:
                        w = prob
                    env[s.target], res.expert_outputs[s.name] = s.dense(x, w)
                    res.step_inputs[s.name] = x
                    w = prob
                res.weights[s.name] = w
            elif s.name == "outputs":
                res.heat, res.wh = s.module.maps(env["p2"], env["cls_logits"])
                if want_detections:
                    res.detections = decode(res.heat, res.wh)
            else:
                out = s.module(*[env[n] for n in s.inputs])
                for n, o in zip(s.outputs, out if isinstance(out, tuple) else (out,)):
                    env[n] = o
        return res
