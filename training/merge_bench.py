"""One markdown table from `moedetect bench --json` reports and bench_torch.py JSON lines.

python3 training/merge_bench.py OUT_DIR_OR_FILES... [--out table.md]

Rows: model × engine × batch. Stage columns are milliseconds per batch (moedetect reports per frame: × batch).
`ms/batch` is the whole loop: moedetect's wall time per batch (with its CPU decode + NMS, "post"); PyTorch's
end-to-end loop (upload, preprocess, network, outputs to host; no decode). `w/o post` leaves moedetect's post out,
so both sides cover the same work; the ratios compare that: PyTorch's ms per batch ÷ this row's, > 1 means this row is
faster. The eager reference is the fastest PyTorch eager engine of the model at that batch, the compiled one the
fastest torch.compile engine. `img/s ÷ eager` and `img/s ÷ compiled` compare throughput instead: moedetect's whole
loop (its stages overlap from batch to batch, NMS included) against PyTorch's end-to-end loop. Failed or skipped rows
are listed under the table.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

STAGES = ("preprocess", "upload", "inference", "download", "postprocess")


@dataclass
class Row:
    model: str
    engine: str
    batch: int
    stage_ms: dict[str, float]      # per batch
    ms_per_batch: float
    ms_without_post: float
    img_per_s: float
    net_ms: float | None = None     # PyTorch: the network alone
    extra: dict = field(default_factory=dict)

    @property
    def torch_kind(self) -> str | None:
        if not self.engine.startswith("torch-"):
            return None
        return "compiled" if "compiled" in self.engine else "eager"


def model_name(path: str) -> str:
    name = Path(path).name
    for suffix in (".moedet", ".onnx"):
        name = name.removesuffix(suffix)
    return name


def read_moedetect(report: dict, notes: list[str]) -> list[Row]:
    rows, model = [], model_name(report["model"])
    for r in report["results"]:
        if r.get("error"):
            notes.append(f"{model} moedetect {r['variant']} batch {r['batch']}: failed: {r['error']}")
            continue
        b = r["batch"]
        stages = {s: ms * b for s, ms in r["stage_ms"].items()}
        extra = {"efficiency": r["efficiency"]} if r.get("efficiency") else {}
        rows.append(Row(model, f"moedetect {r['variant']}", b, stages, 1000 * b / r["frames_per_second"],
                        # The top-level stages only: route, experts and rest_of_net are parts of inference.
                        sum(stages.get(s, 0) for s in STAGES if s != "postprocess"), r["frames_per_second"], extra=extra))
    return rows


def read_torch(line: dict, notes: list[str]) -> Row | None:
    where = f"{line['model']} {line['engine']} batch {line['batch']}"
    if "skipped" in line or "error" in line:
        notes.append(f"{where}: {'skipped: ' + line['skipped'] if 'skipped' in line else 'failed: ' + line['error']}")
        return None
    extra = {"gflops": line["mean_executed_gflops"]} if "mean_executed_gflops" in line else {}
    return Row(line["model"], line["engine"], line["batch"], dict(line["stage_ms_per_batch"]), line["e2e_ms_per_batch"],
               line["e2e_ms_per_batch"], line["e2e_img_per_s"], line["net_ms_per_batch"], extra)


def documents(text: str) -> list[dict]:
    """A moedetect bench --json file (one document) or JSON lines (gpu-bench's moedetect.jsonl, torch.jsonl)."""
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def read(paths: list[Path]) -> tuple[list[Row], list[str], list[str]]:
    rows, notes, devices = [], [], set()
    files = [f for p in paths for f in (sorted(p.rglob("*.json*")) if p.is_dir() else [p])]
    for f in files:
        for d in documents(f.read_text()):
            if "results" in d:
                devices.add(f"moedetect: {d['device']}")
                rows += read_moedetect(d, notes)
            elif d.get("bench") == "torch":
                devices.add(f"PyTorch {d['torch']}: {d['device']}")
                row = read_torch(d, notes)
                if row:
                    rows.append(row)
    return rows, notes, sorted(devices)


def fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def best_torch(rows: list[Row], model: str, batch: int, kind: str) -> Row | None:
    """The fastest PyTorch row of that kind ("eager" or "compiled") for the model and batch."""
    found = [r for r in rows if r.model == model and r.batch == batch and r.torch_kind == kind]
    return min(found, key=lambda r: r.ms_per_batch) if found else None


def table(rows: list[Row]) -> list[str]:
    head = ["model", "engine", "batch", "prep", "up", "infer", "down", "post", "ms/batch", "w/o post", "img/s",
            "net ms/batch", "× eager", "× compiled", "img/s ÷ eager", "img/s ÷ compiled"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for r in sorted(rows, key=lambda r: (r.model, r.batch, 0 if r.engine.startswith("moedetect") else 1, r.engine)):
        eager, comp = best_torch(rows, r.model, r.batch, "eager"), best_torch(rows, r.model, r.batch, "compiled")
        ratio = lambda ref: "–" if ref is None else f"{ref.ms_per_batch / r.ms_without_post:.2f}"
        throughput = lambda ref: "–" if ref is None else f"{r.img_per_s / ref.img_per_s:.2f}"
        engine = r.engine + (f" ({r.extra['gflops']} GFLOPs/img)" if "gflops" in r.extra else "")
        cells = [r.model, engine, str(r.batch)] + [fmt(r.stage_ms.get(s)) for s in STAGES] + [
            fmt(r.ms_per_batch), fmt(r.ms_without_post), fmt(r.img_per_s, 1), fmt(r.net_ms), ratio(eager), ratio(comp),
            throughput(eager), throughput(comp)]
        out.append("| " + " | ".join(cells) + " |")
    return out


def pinned_table(rows: list[Row]) -> list[str]:
    """moedetect's stages from page-locked canvases on (upload, inference, download) against PyTorch's loop, whose
    frames lie in page-locked memory before its clock starts: moedetect's `prep` copies each canvas into its page-locked
    staging (where the product's letterbox writes it), work PyTorch's loop does not time."""
    ours = [r for r in rows if r.engine.startswith("moedetect")]
    if not ours or not any(r.torch_kind for r in rows):
        return []
    out = ["", "From page-locked frames (moedetect's up + infer + down, without its host copy into staging, `prep`) against "
           "PyTorch's loop, whose frames are page-locked before it is timed; ms per batch, ratio = this ÷ PyTorch's "
           "(< 1: faster):", "",
           "| model | engine | batch | up + infer + down | PyTorch eager | ratio | PyTorch compiled | ratio |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in sorted(ours, key=lambda r: (r.model, r.batch, r.engine)):
        ms = sum(r.stage_ms.get(s, 0) for s in ("upload", "inference", "download"))
        cells = [r.model, r.engine, str(r.batch), fmt(ms)]
        for ref in (best_torch(rows, r.model, r.batch, "eager"), best_torch(rows, r.model, r.batch, "compiled")):
            cells += ["–", "–"] if ref is None else [fmt(ref.ms_per_batch), f"{ms / ref.ms_per_batch:.2f}"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def routed_table(rows: list[Row]) -> list[str]:
    """MoeDetect's ES-MoE rows: inference split into route, experts and the rest of the net (ms per batch)."""
    split = ("inference", "route", "experts", "rest_of_net")
    routed = [r for r in rows if "route" in r.stage_ms]
    if not routed:
        return []
    out = ["", "Inference of routed models, split (ms per batch; parts of `infer` above):", "",
           "| model | engine | batch | infer | route | experts | rest of net |", "|---|---|---|---:|---:|---:|---:|"]
    for r in sorted(routed, key=lambda r: (r.model, r.batch, r.engine)):
        out.append("| " + " | ".join([r.model, r.engine, str(r.batch)] + [fmt(r.stage_ms.get(s)) for s in split]) + " |")
    return out


def efficiency_table(rows: list[Row]) -> list[str]:
    """Rows whose engine counts its arithmetic (moedetect's ILGPU engine: its convolutions, the chosen experts' only):
    achieved TFLOP/s over the inference stage and its share of the GPU's dense tensor-core peaks."""
    counted = [r for r in rows if "efficiency" in r.extra]
    if not counted:
        return []
    percent = lambda v: "–" if v is None else f"{100 * v:.1f}%"
    out = ["", "Kernel efficiency (inference stage; convolution arithmetic over its time):", "",
           "| model | engine | batch | TFLOP/s | of FP16 tensor-core peak | of TF32 tensor-core peak | peaks of |",
           "|---|---|---|---:|---:|---:|---|"]
    for r in sorted(counted, key=lambda r: (r.model, r.batch, r.engine)):
        e = r.extra["efficiency"]
        out.append("| " + " | ".join([r.model, r.engine, str(r.batch), fmt(e["inference_tflops"], 2),
                                      percent(e.get("fraction_of_fp16_tensor_core_peak")),
                                      percent(e.get("fraction_of_tf32_tensor_core_peak")), e.get("peak_of", "–")]) + " |")
    return out


def main():
    ap = argparse.ArgumentParser(description="Merge moedetect bench and bench_torch.py results into one markdown table")
    ap.add_argument("inputs", type=Path, nargs="+", help="result files or folders (searched for *.json and *.jsonl)")
    ap.add_argument("--out", type=Path, help="write the markdown here (default: print it)")
    a = ap.parse_args()
    rows, notes, devices = read(a.inputs)
    if not rows:
        raise SystemExit(f"no benchmark results in {', '.join(map(str, a.inputs))}: expected moedetect bench --json "
                         "files or bench_torch.py JSON lines")
    md = ["Devices: " + "; ".join(devices), "",
          "Stage columns and ms/batch in milliseconds per batch; × = PyTorch ms/batch ÷ this row's w/o post (> 1: faster); "
          "img/s ÷ = this row's img/s ÷ PyTorch's.", ""]
    md += table(rows) + pinned_table(rows) + routed_table(rows) + efficiency_table(rows)
    if notes:
        md += ["", "Not measured:", ""] + [f"- {n}" for n in notes]
    text = "\n".join(md) + "\n"
    if a.out:
        a.out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
