"""COCO-style box AP (AP50-95 and AP50, area 'all', ≤100 dets/img, 101-point interpolation) without pycocotools.

Follows the pycocotools bbox protocol: per category, detections sorted by score are greedily matched to the
highest-IoU unmatched ground truth at each IoU threshold; crowd boxes are not present in coco128.
"""
from __future__ import annotations

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0, 1, 101)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-12)


def coco_ap(detections: list[np.ndarray], ground_truth: list[np.ndarray]) -> dict:
    """detections[i]: [K,6] (x1,y1,x2,y2,score,class); ground_truth[i]: [G,5] (x1,y1,x2,y2,class). Same pixel frame."""
    classes = sorted({int(c) for g in ground_truth for c in g[:, 4]})
    ap = np.zeros((len(IOU_THRESHOLDS), len(classes)))
    for ci, c in enumerate(classes):
        scores, matched = [], []
        n_gt = 0
        for det, gt in zip(detections, ground_truth):
            d = det[det[:, 5] == c]
            d = d[np.argsort(-d[:, 4], kind="mergesort")][:100]
            g = gt[gt[:, 4] == c]
            n_gt += len(g)
            m = np.zeros((len(IOU_THRESHOLDS), len(d)), bool)
            if len(d) and len(g):
                iou = iou_matrix(d, g)
                for ti, t in enumerate(IOU_THRESHOLDS):
                    taken = np.zeros(len(g), bool)
                    for di in range(len(d)):
                        cand = np.where(~taken & (iou[di] >= t))[0]
                        if len(cand):
                            best = cand[np.argmax(iou[di, cand])]
                            taken[best] = True
                            m[ti, di] = True
            scores.append(d[:, 4])
            matched.append(m)
        s = np.concatenate(scores)
        order = np.argsort(-s, kind="mergesort")
        mm = np.concatenate(matched, 1)[:, order]
        for ti in range(len(IOU_THRESHOLDS)):
            tp = np.cumsum(mm[ti])
            fp = np.cumsum(~mm[ti])
            rec = tp / max(n_gt, 1)
            prec = tp / np.maximum(tp + fp, 1e-12)
            prec = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec
            idx = np.searchsorted(rec, RECALL_POINTS, side="left")
            q = np.array([prec[i] if i < len(prec) else 0.0 for i in idx])
            ap[ti, ci] = q.mean()
    return {"AP": float(ap.mean()), "AP50": float(ap[0].mean()), "images": len(ground_truth),
            "objects": int(sum(len(g) for g in ground_truth))}

