#!/usr/bin/env bash
# All GPU benchmarks of resproto in one command, for a lent GPU machine with no network (random weights: nothing to
# download); every figure lands under $OUT, at most 8 files:
#   env.log                                   the machine, the GPU, the packages
#   run.log                                   every step's output
#   grp_step.json                             bench/grp_step.py: the GRP step variants' time and memory vs the plain step
#   train_before.json                         bench/train_throughput.py --loader 0.2.0: train() with the loader of 0.2.0
#   train_throughput.json                     bench/train_throughput.py: train() images/s, loader wait share, MFU
#   eval_throughput.json                      bench/eval_throughput.py: resproto_test and resproto_detect frames/s
#   summary.txt                               every step's status and time, then the figures of the JSON files
# Each step runs under `timeout` and the driver goes on after a failure. Expected on one H200: about 3.5 minutes after the
# wheels are installed (about 75 s, 70 s and 50 s for the three steps); with the before/after training run about 4.5 minutes; the caps (120 + 2 x 130 + 80 s) bound it at 8 minutes.
#
#   OUT=/some/folder bash bench/gpu_all.sh        # on the GPU machine (ViT-B-16, cuda, bf16)
#   bash bench/gpu_all.sh --smoke                 # the same path on the CPU with the tiny backbone and small counts,
#                                                 # about 2 minutes; OUT defaults to a new temporary folder
# On a GPU machine without fastai, fastcore, fasttransform, plum-dispatch, open_clip_torch, av and their small needs
# (beartype, ftfy, wcwidth, fastprogress 1.0.5, fastdownload, cloudpickle), and no network: carry their wheels in .whl
# (cp312 manylinux or pure-Python; ~38 MiB, 35 of it av) and run
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site:$PWD && bash bench/gpu_all.sh
# (fastprogress 1.0.5, not 1.1.x: 1.1 imports python-fasthtml and its web stack, which resproto never needs.)
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 2
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 MPLBACKEND=Agg
SMOKE=${SMOKE:-0}
[ "${1:-}" = --smoke ] && SMOKE=1
if [ "$SMOKE" = 1 ]; then OUT=${OUT:-$(mktemp -d /tmp/gpu_all_smoke.XXXXXX)}
elif [ -z "${OUT:-}" ]; then echo "gpu_all.sh: set OUT to the output folder (or pass --smoke for the CPU run)" >&2; exit 2; fi
mkdir -p "$OUT"
DATA=$(mktemp -d /tmp/bench_data.XXXXXX)   # the synthetic FF++ tree, shared by the train and eval benchmarks
trap 'rm -rf "$DATA"' EXIT
PY=${PYTHON:-python3}

if [ "$SMOKE" = 1 ]; then
  COMMON=(--backbone resproto-tiny-vit --device cpu --precision fp32)
  GRP_ARGS=(--batch 8 --steps 2)
  TRAIN_ARGS=(--batch 32 --frames 640 --val_frames 80 --test_frames 240 --frames_per_video 8 --warmup 3 --steps 10 --max_seconds 60)
  EVAL_ARGS=(--batch 128 --detect_images 64 --videos 2 --video_frames 24)
else
  COMMON=(--backbone ViT-B-16 --device cuda --precision bf16)
  GRP_ARGS=(--batch 32 --steps 20)
  TRAIN_ARGS=(--batch 32 --frames 20000 --val_frames 320 --test_frames 4000 --warmup 20 --steps 600 --max_seconds 45)
  EVAL_ARGS=(--batch 128 --detect_images 1000 --videos 24 --video_frames 96)
fi
T_GRP=${T_GRP:-120}; T_TRAIN=${T_TRAIN:-130}; T_EVAL=${T_EVAL:-80}

STATUS=()
step() {  # step NAME SECONDS COMMAND...: run under timeout, output to the terminal and $OUT/run.log
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  echo "=== $name (limit ${limit}s): $*" | tee -a "$OUT/run.log"
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$OUT/run.log"
  local rc=${PIPESTATUS[0]} what=ok
  { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && what="TIMED OUT"
  [ "$rc" != 0 ] && [ "$what" = ok ] && what=FAILED
  echo "=== $name: $what (rc $rc) after $((SECONDS - t0)) s" | tee -a "$OUT/run.log"
  STATUS+=("$name: $what (rc $rc), $((SECONDS - t0)) s")
}

{
  echo "gpu_all.sh $([ "$SMOKE" = 1 ] && echo --smoke) at $(date -u +%FT%TZ) on $(hostname), $(nproc) CPUs"
  free -g | head -2; df -h /tmp | tail -1
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit --format=csv
  "$PY" - <<'EOF'
import importlib, sys
print('python', sys.version.split()[0])
for m in ('torch', 'torchvision', 'numpy', 'PIL', 'fastai', 'fastcore', 'fastprogress', 'open_clip', 'av', 'plum', 'timm', 'accelerate'):
    try: mod = importlib.import_module(m); print(f'{m:12s} {getattr(mod, "__version__", "?"):14s} {mod.__file__}')
    except Exception as e: print(f'{m:12s} MISSING ({type(e).__name__}: {e})')
import torch
print('cuda', torch.version.cuda, 'available', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')
EOF
} 2>&1 | tee "$OUT/env.log"

step grp_step "$T_GRP" "$PY" bench/grp_step.py "${COMMON[@]}" "${GRP_ARGS[@]}" --out "$OUT/grp_step.json"
# before/after: the loader of 0.2.0 (at most 4 workers, pageable memory), then the current defaults (the data is reused)
step train_before "$T_TRAIN" "$PY" bench/train_throughput.py "${COMMON[@]}" "${TRAIN_ARGS[@]}" --loader 0.2.0 --loader_workers --data "$DATA" --out "$OUT/train_before.json"
step train_throughput "$T_TRAIN" "$PY" bench/train_throughput.py "${COMMON[@]}" "${TRAIN_ARGS[@]}" --data "$DATA" --out "$OUT/train_throughput.json"
step eval_throughput "$T_EVAL" "$PY" bench/eval_throughput.py "${COMMON[@]}" "${EVAL_ARGS[@]}" --data "$DATA" --out "$OUT/eval_throughput.json"

{
  echo; echo "=== summary (${COMMON[*]}; total $SECONDS s)"
  printf '%s\n' "${STATUS[@]}"
  OUT="$OUT" "$PY" - <<'EOF'
import json, os
from pathlib import Path
out = Path(os.environ['OUT'])
def load(name):
    f = out/f'{name}.json'
    try: return json.loads(f.read_text())
    except Exception as e: print(f'\n{name}: no figures ({type(e).__name__})'); return None
def pct(v): return '-' if v is None else f'{100 * v:.1f}%'
def num(v, f='.1f'): return '-' if v is None else format(v, f)
g, t, e, b = load('grp_step'), load('train_throughput'), load('eval_throughput'), load('train_before')
rows = []
if b and b.get('train'):
    bt = b['train']
    rows.append(('0.2.0 loader: train() images/s / loader wait share / workers', f"{num(bt.get('images_per_s'))} / {pct(bt.get('loader_wait_share'))} / {b.get('workers')}"))
    if b.get('mfu'): rows.append(('0.2.0 loader: MFU train() step', pct(b['mfu'].get('mfu_train_step'))))
if g:
    for v, s in g['seconds_per_step'].items():
        m = g.get('memory', {}).get(v, {})
        rows.append((f'GRP step {v}: ms / x plain / peak MB / step MB',
                     f"{1e3 * s:.1f} / {g['x_plain'][v]:.2f} / {num(m.get('peak_mb'), '.0f')} / {num(m.get('step_mb'), '.0f')}"))
if t:
    tr, m, L = t.get('train', {}), t.get('mfu', {}), t.get('loader', {})
    rows += [('train() images/s', num(tr.get('images_per_s'))),
             ('train() step ms mean / median / p90', f"{num(tr.get('step_ms_mean'))} / {num(tr.get('step_ms_median'))} / {num(tr.get('step_ms_p90'))}"),
             ('train() loader wait ms / share (goal < 10%)', f"{num(tr.get('loader_wait_ms_mean'))} / {pct(tr.get('loader_wait_share'))}"),
             ('train() measured steps / stopped by', f"{tr.get('steps')} / {tr.get('stopped_by')}"),
             ('train() setup s / epoch end s (val + ckpt) / peak MB', f"{num(tr.get('setup_s'))} / {num(tr.get('epoch_end_s'))} / {num(tr.get('peak_mb'), '.0f')}"),
             ('plain step TFLOP / matmul TFLOP/s', f"{num(m.get('step_flops', 0) / 1e12, '.3f')} / {num(m.get('matmul_flops_per_s', 0) / 1e12)}"),
             ('isolated plain step ms / peak MB', f"{num(m.get('isolated_step_ms'))} / {num(m.get('isolated_peak_mb'), '.0f')}"),
             ('MFU train() step (goal >= 40%)', pct(m.get('mfu_train_step'))),
             ('MFU train() compute only / isolated step', f"{pct(m.get('mfu_train_compute'))} / {pct(m.get('mfu_isolated_step'))}"),
             ('goals met: MFU >= 40% / loader wait < 10%', f"{t.get('goals', {}).get('mfu_ge_40pct')} / {t.get('goals', {}).get('loader_wait_lt_10pct')}"),
             ('data: files / GB / write s / loader workers', f"{t.get('data', {}).get('files')} / {num(t.get('data', {}).get('gb'), '.2f')} / {t.get('data', {}).get('write_s')} / {t.get('workers')}")]
    if L:
        rows.append(('per image ms: decode / transform / getitem', f"{num(L.get('decode_ms_per_image'), '.2f')} / {num(L.get('transform_ms_per_image'), '.2f')} / {num(L.get('getitem_ms_per_image'), '.2f')}"))
        if 'h2d_ms_per_batch_pageable' in L:
            rows.append(('H2D ms per batch: pageable / pinned', f"{num(L['h2d_ms_per_batch_pageable'], '.2f')} / {num(L['h2d_ms_per_batch_pinned'], '.2f')}"))
        rows += [(f"train loader alone, {v['workers']} workers: images/s", num(v.get('images_per_s'), '.0f')) for v in L.get('loader_only', {}).values()]
    top = list(m.get('flops_by_op', {}).items())[:4]
    if top: rows.append(('FLOPs by op (top 4, share)', ', '.join(f"{k}: {100 * v / m['step_flops']:.0f}%" for k, v in top)))
if e:
    c, rt, d = e.get('ceilings', {}), e.get('resproto_test', {}), e.get('resproto_detect', {})
    rows += [('eval: model alone frames/s', num(c.get('model_frames_per_s'), '.0f')),
             (f"eval: loader alone ({e.get('workers')} workers) frames/s", num(c.get('loader', {}).get('frames_per_s'), '.0f')),
             (f"resproto_test ({rt.get('frames')} frames): scoring frames/s", num(rt.get('frames_per_s_scoring'), '.0f')),
             ('resproto_test: command wall s / frames/s', f"{num(rt.get('wall_s'))} / {num(rt.get('frames_per_s_wall'), '.0f')}"),
             ('resproto_detect images (detect(), batch): frames/s', num(d.get('images', {}).get('frames_per_s'), '.0f')),
             ('resproto_detect videos (detect(), batch): frames/s scored / decoded', f"{num(d.get('videos', {}).get('frames_per_s'), '.0f')} / {num(d.get('videos', {}).get('frames_decoded_per_s'), '.0f')}"),
             ('resproto_detect command (batch 64): wall s / frames/s', f"{num(d.get('detect_cli', {}).get('wall_s'))} / {num(d.get('detect_cli', {}).get('frames_per_s_wall'), '.0f')}"),
             ('eval: build run s / detect model load s', f"{num(e.get('build_run_s'))} / {num(e.get('detect_model_load_s'))}")]
print()
for k, v in rows: print(f'{k:62s} {v}')
EOF
} 2>&1 | tee "$OUT/summary.txt"
echo "figures in $OUT:" "$OUT"/*
