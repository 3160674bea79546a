"""GFLOPs per image = 2 × multiply-accumulates of every Conv2d (elementwise ops are not counted), per submodule."""
from __future__ import annotations

import torch
import torch.nn as nn


def conv_gflops(module: nn.Module, *inputs) -> dict[str, float]:
    """Runs module(*inputs) once (batch 1) and returns {qualified conv name: GFLOPs} for each Conv2d executed."""
    found: dict[str, float] = {}
    hooks = []
    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            def hook(mod, inp, out, name=name):
                k = mod.kernel_size[0] * mod.kernel_size[1]
                macs = out[0].numel() * (mod.in_channels // mod.groups) * k
                found[name] = found.get(name, 0.0) + 2 * macs / 1e9
            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return found


def group(per_conv: dict[str, float], depth: int) -> dict[str, float]:
    """Sum per-conv GFLOPs by the first `depth` parts of the module path."""
    out: dict[str, float] = {}
    for name, g in per_conv.items():
        key = ".".join(name.split(".")[:depth])
        out[key] = out.get(key, 0.0) + g
    return out
