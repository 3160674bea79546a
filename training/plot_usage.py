"""Plot expert usage from a training run's results.json: experts chosen per MoE step on the crowded clip vs the
often-empty one, and executed GFLOPs against the teacher's object count (score ≥ 0.3) for every image.

python3 training/plot_usage.py training/results/run3-results.json docs/expert-usage.png
"""
from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

CROWDED, EMPTY = "pedestrians-720p.avi", "one-by-one-person-detection.mp4"


def main(results_path: str, out_path: str):
    r = json.loads(open(results_path).read())
    names, steps = r["expert_names"], list(r["expert_names"])
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    colours = {"full": "#c0392b", "half": "#e67e22", "3x3": "#e67e22", "quarter": "#f1c40f", "quarter-3x3": "#f1c40f",
               "3x3-half": "#f1c40f", "skip": "#27ae60"}
    for ax, clip in zip(axes[:2], (CROWDED, EMPTY)):
        c = r["clips"][clip]
        bottom = np.zeros(len(steps))
        for rank in range(4):
            frac = np.array([c["experts"][s][rank] / c["frames"] if rank < len(names[s]) else 0 for s in steps])
            labels = [names[s][rank] if rank < len(names[s]) else "" for s in steps]
            for j, (f, lab) in enumerate(zip(frac, labels)):
                if f > 0:
                    ax.bar(j, f, bottom=bottom[j], color=colours[lab], edgecolor="white")
                    if f > 0.12:
                        ax.text(j, bottom[j] + f / 2, lab, ha="center", va="center", fontsize=7, rotation=90)
            bottom += frac
        ax.set_xticks(range(len(steps)), steps, rotation=45)
        ax.set_ylabel("fraction of frames")
        ax.set_title(f"{clip}\n{c['frames']} frames, teacher objects/frame {c['mean_teacher_count']:.1f}, "
                     f"mean {c['mean_gflops']:.2f} GFLOPs")
    pi = r["per_image"]
    src = np.array(pi["source"])
    g, n = np.array(pi["gflops"]), np.array(pi["teacher_count"])
    ax = axes[2]
    for s in sorted(set(src)):
        m = src == s
        ax.scatter(n[m] + np.random.default_rng(0).uniform(-0.3, 0.3, m.sum()), g[m], s=8, alpha=0.5,
                   label=s.replace("video:", ""))
    ax.axhline(r["teacher_gflops"], color="k", ls="--", lw=1, label=f"teacher {r['teacher_gflops']:.2f}")
    ax.set_xlabel("teacher detections with score ≥ 0.3")
    ax.set_ylabel("executed GFLOPs per image (student, top-1)")
    ax.set_title(f"executed compute vs object count (r = {r['corr_gflops_vs_teacher_count_all']:.2f}, "
                 f"{len(g)} images)")
    ax.legend(fontsize=7)
    fig.suptitle("ES-MoE CenterNet student: expert choices (video frames were in the distillation set; "
                 "coco-holdout = 32 held-out images)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_path, dpi=90)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_usage.py RESULTS_JSON OUT_PNG")
    main(sys.argv[1], sys.argv[2])
