"""Real training/evaluation images: letterboxed 512-px JPEGs packed into one .npz that travels to the GPU.

Pack contents: jpeg bytes per image, source ('coco'/'video:<clip>'), coco file name and labels (x1,y1,x2,y2,class in
512-px letterboxed coordinates) for coco128 images, and the letterbox (scale, dx, dy) to map boxes back.
coco128 images whose sorted index ≥ HOLDOUT_START are flagged held out and never used for training.
"""
from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import cv2
import numpy as np
import torch

SIZE = 512
HOLDOUT_START = 96  # coco128 sorted index ≥ 96 (the last 32) are held out from training
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


def letterbox(bgr: np.ndarray, size: int = SIZE):
    """Centered letterbox on black, bilinear resize (the teacher's documented preprocessing). Returns RGB uint8."""
    h, w = bgr.shape[:2]
    r = min(size / w, size / h)
    nw, nh = round(w * r), round(h * r)
    dx, dy = (size - nw) // 2, (size - nh) // 2
    out = np.zeros((size, size, 3), np.uint8)
    out[dy:dy + nh, dx:dx + nw] = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
    return out, r, dx, dy


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(b: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def coco128(root: Path):
    """Sorted coco128 images with their boxes (x1,y1,x2,y2,class-index) in original pixels."""
    ann = json.loads((root / "annotations.json").read_text())
    names = (root / "classes.txt").read_text().split("\n")
    cat_to_cls = {c["id"]: names.index(c["name"]) for c in ann["categories"]}
    boxes: dict[int, list] = {}
    for a in ann["annotations"]:
        x, y, w, h = a["bbox"]
        boxes.setdefault(a["image_id"], []).append([x, y, x + w, y + h, cat_to_cls[a["category_id"]]])
    for i, im in enumerate(sorted(ann["images"], key=lambda m: m["file_name"])):
        yield i, root / "images" / im["file_name"], im, np.array(boxes.get(im["id"], []), np.float32).reshape(-1, 5)


def video_frames(path: Path, every: int):
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise RuntimeError(f"cannot open video {path}")
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % every == 0:
            yield i, frame
        i += 1
    cap.release()


def build_pack(shared: Path, out: Path, frames_per_clip: int, quality: int):
    jpegs, source, names, labels, lb, frame_idx = [], [], [], [], [], []
    for i, path, _, boxes in coco128(shared / "data" / "coco128-train"):
        rgb, r, dx, dy = letterbox(cv2.imread(str(path)))
        jpegs.append(encode_jpeg(rgb, quality))
        source.append("coco-holdout" if i >= HOLDOUT_START else "coco-train")
        names.append(path.name)
        b = boxes.copy()
        b[:, [0, 2]] = b[:, [0, 2]] * r + dx
        b[:, [1, 3]] = b[:, [1, 3]] * r + dy
        labels.append(b)
        lb.append((r, dx, dy))
        frame_idx.append(-1)
    for clip in sorted((shared / "data" / "video").glob("*")):
        total = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT))
        for fi, frame in video_frames(clip, max(1, total // frames_per_clip)):
            rgb, r, dx, dy = letterbox(frame)
            jpegs.append(encode_jpeg(rgb, quality))
            source.append(f"video:{clip.name}")
            names.append(f"{clip.name}#{fi}")
            labels.append(np.zeros((0, 5), np.float32))
            lb.append((r, dx, dy))
            frame_idx.append(fi)
    offsets = np.cumsum([0] + [len(j) for j in jpegs])
    np.savez(out, blob=np.frombuffer(b"".join(jpegs), np.uint8), offsets=offsets, source=np.array(source),
             names=np.array(names), letterbox=np.array(lb, np.float32), frame=np.array(frame_idx),
             label_counts=np.array([len(l) for l in labels]), labels=np.concatenate(labels).astype(np.float32))
    print(f"{out}: {len(jpegs)} images, {offsets[-1] / 1e6:.1f} MB of JPEG "
          f"({sum(s.startswith('coco') for s in source)} coco128, {HOLDOUT_START} train / "
          f"{sum(s == 'coco-holdout' for s in source)} held out)")


class Pack:
    """Read side of the pack; images decode lazily."""

    def __init__(self, path: Path):
        z = np.load(path)
        self.blob, self.offsets = z["blob"], z["offsets"]
        self.source, self.names, self.letterbox, self.frame = z["source"], z["names"], z["letterbox"], z["frame"]
        ends = np.cumsum(z["label_counts"])
        self.labels = np.split(z["labels"], ends[:-1])

    def __len__(self):
        return len(self.offsets) - 1

    def image(self, i) -> np.ndarray:
        return decode_jpeg(self.blob[self.offsets[i]:self.offsets[i + 1]].tobytes())

    def indices(self, prefix: str):
        return [i for i, s in enumerate(self.source) if s.startswith(prefix)]

    def batch(self, idx) -> torch.Tensor:
        return torch.from_numpy(np.stack([self.image(i) for i in idx])).float()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Build the letterboxed JPEG pack of real images for training/eval")
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames-per-clip", type=int, default=300)
    ap.add_argument("--quality", type=int, default=80)
    a = ap.parse_args()
    build_pack(a.shared.resolve(), a.out, a.frames_per_clip, a.quality)
