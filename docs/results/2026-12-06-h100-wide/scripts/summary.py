"""Summary of one call's results folder (run-a.sh or run-c.sh): whole-plan profiles per model, batch and build or
tile switch, the largest kinds of launch at batch 32, and per-layer tensor-core times per tile (kernels logs).
Usage: python3 summary.py <unpacked r.tgz>"""
import glob, json, os, re, statistics, sys

folder = sys.argv[1]


def records(path):
    for line in open(path):
        if line.startswith('{'):
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                pass


profiles = {}
for path in sorted(glob.glob(f'{folder}/p-*.log')):
    model, variant = re.match(r'p-(\w+)-(\w+)-\d+\.log', os.path.basename(path)).groups()
    for r in records(path):
        if 'whole_run_ms' in r:
            profiles.setdefault((model, r['batch']), {}).setdefault(variant, []).append(r)
print('model | batch | variant: whole-plan ms (each run) | launches')
for (model, batch), variants in sorted(profiles.items()):
    cells = []
    for v, runs in sorted(variants.items()):
        times = ', '.join('%.3f' % r['whole_run_ms'] for r in runs)
        cells.append(f"{v}: {times} ({runs[0]['launches']})")
    medians = {v: statistics.median(r['whole_run_ms'] for r in runs) for v, runs in variants.items()}
    ratio = ''
    if len(medians) == 2:
        (a, ma), (b, mb) = sorted(medians.items())
        ratio = f' | {b} ÷ {a} = {mb / ma:.3f}'
    print(f'{model} | {batch} | ' + ' | '.join(cells) + ratio)
    if batch == 32:
        for v, runs in sorted(variants.items()):
            kinds = ', '.join('%s %d×%.3f' % (k['kind'], k['launches'], k['ms']) for k in runs[0]['by_kind'][:8])
            print(f'    {v}: {kinds}')

for path in sorted(glob.glob(f'{folder}/k-*.log')):
    sums = {}
    for r in records(path):
        if 'tensor_core_check' in r:
            print(os.path.basename(path), r['tensor_core_check'])
        for t in r.get('tensor_cores', []):
            sums[t['tiles']] = sums.get(t['tiles'], 0) + t['ms'] * r['count']
            if len(r['tensor_cores']) > 1:
                print(f"    {r['layer']} {t['tiles']}: {t['ms']:.4f} ms, {t['tflops']:.1f} TFLOP/s, diff {t['max_abs_diff_vs_direct']:.3g}")
    print(os.path.basename(path), 'sum of layer ms × count per tile:', {k: round(v, 3) for k, v in sums.items()})
