"""Distil the MobileNetV3-CenterNet teacher into the ES-MoE student on real images (GPU; CPU for smoke runs).

Losses (per batch): soft focal distillation to the teacher heatmap + L1 on wh where the teacher is confident
+ CenterNet ground-truth loss on labelled coco128 training images + local distillation of every expert to the
teacher's block output + expected-compute penalty (hinge on a target fraction of the teacher's GFLOPs, plus a
small linear term) + GShard load balance. Routing: dense soft mixture first, then straight-through top-1 with
Gumbel noise so training sees what sparse inference runs. coco128 images with sorted index ≥ 96 never train.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from data import Pack
from esmoe import ESMoEStudent, MoEStep, Routing
from evaluate import coco_ap
from teacher import CenterNetTeacher, STRIDE

# ---------------------------------------------------------------- augmentation (on the device, whole batch)


def augment(images: torch.Tensor, boxes: list[np.ndarray], cfg: dict, gen: random.Random):
    """images uint8 [N,512,512,3] → float NHWC 0..255, boxes moved alike. Random scale/translate/flip (one affine
    per image), optional 2×2 mosaic (its boxes are dropped: ground truth is then incomplete), colour jitter."""
    n, size = images.shape[0], images.shape[1]
    x = images.permute(0, 3, 1, 2).float()
    labelled = [b is not None for b in boxes]
    if cfg["aug_mosaic"] > 0:
        for i in range(n):
            if gen.random() < cfg["aug_mosaic"]:
                picks = [gen.randrange(n) for _ in range(4)]
                tiles = F.interpolate(x[picks], scale_factor=0.5, mode="bilinear", align_corners=False)
                h = size // 2
                x[i] = torch.cat([torch.cat([tiles[0], tiles[1]], 2), torch.cat([tiles[2], tiles[3]], 2)], 1)
                labelled[i] = False
    lo, hi = cfg["aug_scale"]
    theta = torch.zeros(n, 2, 3, device=x.device)
    out_boxes = []
    for i in range(n):
        s = math.exp(gen.uniform(math.log(lo), math.log(hi)))
        flip = gen.random() < 0.5
        # out_px = s·in_px + t; keep at least half of the image in view
        span = size * abs(1 - s) / 2 + size * 0.25 * min(s, 1)
        tx, ty = (size * (1 - s) / 2 + gen.uniform(-span, span) for _ in range(2))
        fx = -1.0 if flip else 1.0
        # grid_sample maps output normalised coords to input normalised coords: in = (out_px - t)/s
        theta[i, 0, 0] = fx / s
        theta[i, 0, 2] = fx * ((size / 2 - tx) / s - size / 2) / (size / 2)
        theta[i, 1, 1] = 1 / s
        theta[i, 1, 2] = ((size / 2 - ty) / s - size / 2) / (size / 2)
        if labelled[i]:
            b = boxes[i].copy()
            if flip:
                b[:, [0, 2]] = size - b[:, [2, 0]]
            b[:, :4] = b[:, :4] * s + np.array([tx, ty, tx, ty], np.float32)
            vis = b[:, :4].copy()
            vis[:, :4] = np.clip(vis[:, :4], 0, size)
            keep = ((vis[:, 2] - vis[:, 0]) > 2) & ((vis[:, 3] - vis[:, 1]) > 2)
            b[:, :4] = vis
            out_boxes.append(b[keep])
        else:
            out_boxes.append(None)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    a = cfg["aug_colour"]
    if a > 0:
        rnd = lambda: torch.tensor([gen.uniform(1 - a, 1 + a) for _ in range(n)], device=x.device).view(n, 1, 1, 1)
        x = x * rnd()  # brightness
        mean = x.mean((1, 2, 3), keepdim=True)
        x = (x - mean) * rnd() + mean  # contrast
        grey = x.mean(1, keepdim=True)
        x = (x - grey) * rnd() + grey  # saturation
    return x.clamp(0, 255).permute(0, 2, 3, 1).contiguous(), out_boxes


# ---------------------------------------------------------------- losses


def soft_focal(student: torch.Tensor, target: torch.Tensor, norm: float) -> torch.Tensor:
    """BCE to a soft target weighted by |t − s|², summed per image over all cells/classes, / norm → [N]."""
    s = student.float().clamp(1e-4, 1 - 1e-4)
    t = target.float()
    bce = -(t * s.log() + (1 - t) * (1 - s).log())
    return ((t - s).abs().pow(2) * bce).flatten(1).sum(1) / norm


def wh_loss(student_wh, teacher_wh, teacher_heat, threshold: float) -> torch.Tensor:
    w = teacher_heat.float().amax(-1)
    w = torch.where(w > threshold, w, torch.zeros_like(w))
    l1 = (student_wh.float() - teacher_wh.float()).abs().sum(-1) / 16.0
    return (w * l1).flatten(1).sum(1) / (w.flatten(1).sum(1) + 1.0)


def gaussian_targets(boxes: list, n: int, classes: int, hw: int, device) -> tuple:
    """CenterNet targets: Gaussian heat per class [N,hw,hw,C], centre cells (image, y, x) and their ltrb (input px)."""
    rows = [(i, *b) for i, bb in enumerate(boxes) if bb is not None for b in bb]
    heat = torch.zeros(n * classes, hw, hw, device=device)
    if not rows:
        return heat.view(n, classes, hw, hw).permute(0, 2, 3, 1), torch.zeros(0, 3, device=device, dtype=torch.long), \
            torch.zeros(0, 4, device=device)
    r = torch.tensor(rows, device=device, dtype=torch.float32)
    img, x1, y1, x2, y2, cls = r.unbind(1)
    cx = ((x1 + x2) / 2 / STRIDE).floor().clamp(0, hw - 1)
    cy = ((y1 + y2) / 2 / STRIDE).floor().clamp(0, hw - 1)
    sigma = (torch.minimum(x2 - x1, y2 - y1) / STRIDE / 6).clamp(min=0.5)
    grid = torch.arange(hw, device=device, dtype=torch.float32)
    g = torch.exp(-((grid.view(1, 1, -1) - cx.view(-1, 1, 1)) ** 2 + (grid.view(1, -1, 1) - cy.view(-1, 1, 1)) ** 2)
                  / (2 * sigma.view(-1, 1, 1) ** 2))
    heat.index_reduce_(0, (img * classes + cls).long(), g, "amax")
    ltrb = torch.stack([cx * STRIDE - x1, cy * STRIDE - y1, x2 - cx * STRIDE, y2 - cy * STRIDE], 1)
    centres = torch.stack([img, cy, cx], 1).long()
    return heat.view(n, classes, hw, hw).permute(0, 2, 3, 1), centres, ltrb


def gt_loss(student_heat, student_wh, boxes) -> torch.Tensor:
    n, hw, _, classes = student_heat.shape
    if all(b is None for b in boxes):
        return student_heat.sum() * 0
    target, centres, ltrb = gaussian_targets(boxes, n, classes, hw, student_heat.device)
    s = student_heat.float().clamp(1e-4, 1 - 1e-4)
    rows = torch.tensor([b is not None for b in boxes], device=s.device)
    pos = (target == 1).float()
    focal = pos * (1 - s) ** 2 * s.log() + (1 - pos) * (1 - target) ** 4 * s ** 2 * (1 - s).log()
    focal = -(focal.flatten(1).sum(1) * rows.float()).sum() / pos.sum().clamp(min=1)
    if len(centres):
        pred = student_wh[centres[:, 0], centres[:, 1], centres[:, 2]].float()
        focal = focal + 0.1 * (pred - ltrb).abs().mean() / 4
    return focal


def load_balance(weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """GShard: E · Σ_i f_i · P_i with f the fraction of images whose top expert is i."""
    total = 0
    for w in weights.values():
        e = w.shape[1]
        f = F.one_hot(w.argmax(1), e).float().mean(0)
        total = total + e * (f * w.mean(0)).sum()
    return total / len(weights)


class TeacherTaps:
    """Teacher forward that also records the outputs of the blocks the student turned into MoE steps."""

    def __init__(self, teacher: CenterNetTeacher, student: ESMoEStudent):
        self.teacher, self.outputs = teacher, {}
        modules = {f"block{i}": b for i, b in enumerate(teacher.backbone.blocks)}
        modules.update(up4=teacher.head.up4, up3=teacher.head.up3, cls=teacher.head.cls)
        for s in student.moe_steps:
            modules[s.name].register_forward_hook(lambda m, i, o, name=s.name: self.outputs.__setitem__(name, o))

    @torch.no_grad()
    def __call__(self, images):
        self.outputs = {}
        heat, wh, _ = self.teacher(images)
        return heat, wh, dict(self.outputs)


def local_loss(step: MoEStep, outs: list[torch.Tensor], target: torch.Tensor, cfg) -> torch.Tensor:
    """Every expert (identity excluded) learns to reproduce the teacher's block output."""
    losses = []
    for name, o in zip(step.expert_names, outs):
        if name == "skip":
            continue
        if step.kind == "cls":
            losses.append(soft_focal(torch.sigmoid(o.float()), torch.sigmoid(target.float()), cfg["heat_norm"]).mean())
        else:
            t = target.float()
            losses.append(F.mse_loss(o.float(), t) / (t.var() + 1e-6))
    return sum(losses) / len(losses)


# ---------------------------------------------------------------- training


def param_groups(student: ESMoEStudent, cfg):
    """Routers learn fastest, derived (cheaper) experts next; weights copied 1:1 from the teacher (segments and
    full experts) stay frozen when lr_inherited is 0 — Adam steps of even 1e-4 wreck BN-folded weights quickly."""
    routers, derived, inherited = [], [], []
    for s in student.moe_steps:
        routers += list(s.router.parameters())
        for name, e in zip(s.expert_names, s.experts):
            (inherited if name == "full" else derived).extend(e.parameters())
    seen = {id(p) for p in routers + derived + inherited}
    inherited += [p for p in student.parameters() if id(p) not in seen]
    groups = [{"params": routers, "lr": cfg["lr_router"]}, {"params": derived, "lr": cfg["lr_new"]}]
    if cfg["lr_inherited"] > 0:
        groups.append({"params": inherited, "lr": cfg["lr_inherited"]})
    else:
        for p in inherited:
            p.requires_grad_(False)
    return groups


def train(student, teacher, pack: Pack, images_dev: torch.Tensor, cfg: dict, out: Path, max_steps: int | None = None,
          log=print):
    dev = images_dev.device
    gen = random.Random(cfg["seed"])
    coco = pack.indices("coco-train")
    video = pack.indices("video:")
    taps = TeacherTaps(teacher, student)
    opt = torch.optim.AdamW(param_groups(student, cfg), weight_decay=0.0)
    base_lrs = [g["lr"] for g in opt.param_groups]
    teacher_gflops = student.full_gflops()
    routing = Routing(**{k: v for k, v in cfg["routing"].items() if k != "video_hysteresis"})
    budget = cfg["minutes"] * 60
    t0 = time.time()
    rows = []
    step = 0
    use_amp = dev.type == "cuda"
    while True:
        if step == 1:
            t0 = time.time()  # the first step pays for CUDA/cuDNN start-up: keep it out of the schedule
        elapsed = time.time() - t0
        frac = elapsed / budget if max_steps is None else step / max_steps
        if frac >= 1:
            break
        n_coco = int(round(cfg["batch"] * cfg["coco_fraction"]))
        idx = [gen.choice(coco) for _ in range(n_coco)] + [gen.choice(video) for _ in range(cfg["batch"] - n_coco)]
        boxes = [pack.labels[i] if pack.source[i] == "coco-train" else None for i in idx]
        x, boxes = augment(images_dev[idx], boxes, cfg, gen)
        mode = "soft" if frac < cfg["soft_fraction"] else "hard"
        noise = cfg["hard_noise"] * (1 - frac)
        lr_scale = min(1.0, (step + 1) / cfg["warmup_steps"]) * 0.5 * (1 + math.cos(math.pi * min(frac, 1)))
        for g, lr in zip(opt.param_groups, base_lrs):
            g["lr"] = lr * lr_scale
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
            t_heat, t_wh, t_blocks = taps(x)
            r = student(x, mode=mode, routing=routing, hard_noise=noise, want_detections=False)
            heat = soft_focal(r.heat, t_heat, cfg["heat_norm"]).mean()
            wh = wh_loss(r.wh, t_wh, t_heat, cfg["wh_confidence"]).mean()
            gt = gt_loss(r.heat, r.wh, boxes)
            local = sum(local_loss(s, r.expert_outputs[s.name], t_blocks[s.name], cfg) for s in student.moe_steps)
            local = local / len(student.moe_steps)
            ratio = student.expected_gflops(r.weights) / teacher_gflops
            compute = cfg["loss_compute"] * F.relu(ratio.mean() - cfg["compute_target"]) + \
                cfg["loss_compute_linear"] * ratio.mean()
            balance = load_balance(r.weights)
            loss = cfg["loss_heat"] * heat + cfg["loss_wh"] * wh + cfg["loss_gt"] * gt + \
                cfg["loss_local"] * local + compute + cfg["loss_balance"] * balance
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], cfg["grad_clip"])
        opt.step()
        if step % 10 == 0:
            top1 = {k: np.bincount(w.argmax(1).cpu().numpy(), minlength=w.shape[1]).tolist() for k, w in r.weights.items()}
            row = dict(step=step, seconds=round(time.time() - t0, 1), mode=mode, lr=opt.param_groups[0]["lr"],
                       loss=loss.item(), heat=heat.item(), wh=wh.item(), gt=float(gt), local=float(local),
                       compute_ratio=ratio.mean().item(), balance=balance.item(), top1=json.dumps(top1))
            rows.append(row)
            if step % 50 == 0:
                log(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "top1"}))
        step += 1
    if rows:
        with open(out / "loss_curve.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
    return step


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(student, teacher, pack: Pack, images_dev: torch.Tensor, cfg: dict, batch: int = 32) -> dict:
    """AP of teacher and sparse student (held-out 32 / all 128 coco128), executed GFLOPs, routes per clip."""
    student.eval()
    routing = Routing(**{k: v for k, v in cfg["routing"].items() if k != "video_hysteresis"})
    dev = images_dev.device
    n = images_dev.shape[0]
    t_det, s_det, gflops = [], [], []
    choices = {s.name: [] for s in student.moe_steps}
    for i in range(0, n, batch):
        x = images_dev[i:i + batch].float()
        t_det.append(teacher(x)[2].float().cpu())
        r = student(x, mode="sparse", routing=routing)
        s_det.append(r.detections.float().cpu())
        gflops.append(student.executed_gflops(r.weights).cpu())
        for k, w in r.weights.items():
            choices[k].append(w.argmax(1).cpu())
    t_det, s_det = torch.cat(t_det).numpy(), torch.cat(s_det).numpy()
    gflops = torch.cat(gflops).numpy()
    choices = {k: torch.cat(v).numpy() for k, v in choices.items()}
    keep = lambda d: d[d[:, 4] >= 0.001]
    coco = pack.indices("coco")
    held = pack.indices("coco-holdout")
    res = {"teacher_gflops": student.full_gflops(), "routing": cfg["routing"]}
    for tag, idx in (("holdout32", held), ("all128_96trained", coco)):
        gts = [pack.labels[i] for i in idx]
        res[f"teacher_{tag}"] = coco_ap([keep(t_det[i]) for i in idx], gts)
        res[f"student_{tag}"] = coco_ap([keep(s_det[i]) for i in idx], gts)
        res[f"student_gflops_{tag}"] = float(gflops[idx].mean())
    counts = (t_det[:, :, 4] >= cfg["count_threshold"]).sum(1)
    res["student_gflops_all_images"] = float(gflops.mean())
    res["corr_gflops_vs_teacher_count_all"] = float(np.corrcoef(gflops, counts)[0, 1])
    clips = {}
    for src in sorted(set(pack.source)):
        if not src.startswith("video:"):
            continue
        idx = pack.indices(src)
        clips[src[6:]] = {
            "frames": len(idx), "mean_gflops": float(gflops[idx].mean()),
            "mean_teacher_count": float(counts[idx].mean()),
            "corr_gflops_vs_count": float(np.corrcoef(gflops[idx], counts[idx])[0, 1]) if gflops[idx].std() > 0 else None,
            "experts": {k: np.bincount(v[idx], minlength=len(s.expert_names)).tolist()
                        for (k, v), s in zip(choices.items(), student.moe_steps)}}
    res["clips"] = clips
    res["expert_names"] = {s.name: s.expert_names for s in student.moe_steps}
    res["expert_gflops"] = {s.name: s.gflops for s in student.moe_steps}
    res["per_image"] = {"source": pack.source.tolist(), "gflops": gflops.round(4).tolist(), "teacher_count": counts.tolist(),
                        "choices": {k: v.tolist() for k, v in choices.items()}}
    return res


def load_images(pack: Pack, dev) -> torch.Tensor:
    return torch.from_numpy(np.stack([pack.image(i) for i in range(len(pack))])).to(dev)


def main():
    ap = argparse.ArgumentParser(description="Train the ES-MoE student by distillation from the CenterNet teacher")
    ap.add_argument("--config", type=Path, default=Path(__file__).with_name("config.json"))
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--teacher", type=Path, required=True, help="centernet.json (TFJS) with its .bin beside it")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, help="override the config's training time budget")
    a = ap.parse_args()
    cfg = json.loads(a.config.read_text())
    if a.minutes is not None:
        cfg["minutes"] = a.minutes
    a.out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    logf = open(a.out / "train_log.txt", "a")
    log = lambda s: (print(s, flush=True), logf.write(s + "\n"), logf.flush())
    pack = Pack(a.pack)
    images = load_images(pack, dev)
    teacher = CenterNetTeacher(a.teacher).to(dev).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = ESMoEStudent(a.teacher).to(dev)
    log(f"device {dev}; {len(pack)} images ({len(pack.indices('coco-train'))} coco train, "
        f"{len(pack.indices('coco-holdout'))} coco held out, {len(pack.indices('video:'))} video frames); "
        f"student {sum(p.numel() for p in student.parameters())} params, teacher {student.full_gflops():.3f} GFLOPs")
    steps = train(student, teacher, pack, images, cfg, a.out, log=log)
    log(f"trained {steps} steps")
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in student.state_dict().items()},
               a.out / "student_fp16.pt")
    res = evaluate(student, teacher, pack, images, cfg)
    res["steps"] = steps
    res["config"] = cfg
    (a.out / "results.json").write_text(json.dumps(res))
    log(json.dumps({k: v for k, v in res.items() if k not in ("per_image", "config")}, indent=1))


if __name__ == "__main__":
    main()
