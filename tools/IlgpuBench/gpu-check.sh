#!/usr/bin/env bash
# On the GPU machine, from the repository root: ilgpu-bench's kernel benchmark (tensor-core self-check, every conv
# layer of the model per path, device TopK), then the engine end to end on JPEG frames vs ONNX Runtime CPU (compare.py).
# usage: tools/IlgpuBench/gpu-check.sh <ilgpu-bench binary> <dir of .jpg frames> <out-dir>   (needs python3 + numpy,
# onnxruntime, and cv2 or PIL to decode the frames)
set -euo pipefail
bench=$1 jpgs=$2 out=$3
mkdir -p "$out" "$out/frames"
"$bench" kernels models/centernet-mnv3.onnx "$out/kernels" --batches 1,32 --iterations 5 | grep -v '"Layer"'
python3 - "$jpgs" "$out/frames" <<'PY'
import glob, os, sys
import numpy as np
for f in glob.glob(f'{sys.argv[1]}/*.jpg'):
    try:
        import cv2; im = cv2.imread(f)
    except ImportError:
        from PIL import Image; im = np.asarray(Image.open(f).convert('RGB'))[..., ::-1].copy()
    h, w = im.shape[:2]
    im.tofile(f'{sys.argv[2]}/{os.path.basename(f)[:-4]}_{w}x{h}.bgr')
PY
"$bench" models/centernet-mnv3.onnx "$out/frames" "$out/e2e" --batches 1,8 --iterations 20
python3 "$(dirname "$0")/compare.py" models/centernet-mnv3.onnx "$out/e2e" "$out/e2e.json" > /dev/null
grep -E '"batch"|max_abs|"heatmap"|"wh"|"detections"|"median"|kept|agree' "$out/e2e.json"
