#!/usr/bin/env python3
"""Training throughput of the project's own `train()` on a synthetic FF++ tree: images/s, the share of step time spent
waiting for the data loader, and model FLOP utilisation (MFU) of the plain step, side by side in one run.

Data: a synthetic FF++ tree (bench/synth_data.py) of PNG face crops, 256-320 px, about 160 kB each, `--frames` training
frames (1 real : 4 fakes), written by a multiprocessing pool; `--data DIR` keeps (and reuses) it.

Training: `resproto.train.train.train` with the default RunConfig except the backbone (random weights, `pretrained=None`), the
precision, the batch and the device; default data-loader workers (`resolve_workers`: the CPUs, at most 4). GRP starts
after `epochs_before_grp` (2) epochs, so the measured steps of epoch 1 are the plain step (forward, backward, Adam). The
epoch is cut after `--warmup` + `--steps` steps (or `--max_seconds` of measured steps) with fastai's CancelTrainException:
validation and the checkpoints of the epoch still run (timed as "epoch end"); the test sets are not evaluated.

Measured by two fastai callbacks added through `fastai.learner.defaults.callbacks` (so `train()` builds them into its own
Learner): the first callback of before_batch and the last of after_batch, which synchronises the GPU (fastai's progress bar
already does, through `.item()`, every step). Per step: total = after_batch to after_batch; loader wait = after_batch to the
next before_batch, i.e. fetching the next batch from the DataLoader and fastai moving it to the device, time in which the
GPU has nothing to do. The first `--warmup` steps (worker start-up, cuDNN/cuBLAS autotuning) are not counted.

MFU: FLOPs of one plain training step of the trained model (forward in the run's autocast precision, loss, backward; Adam's
element-wise work is not counted) by torch.utils.flop_counter.FlopCounterMode, divided by the step time, divided by the
card's matmul rate measured in the same run (`--matmul_n`^3 torch.matmul in the run's precision, mean of 10 after 3
warm-ups). Three step times: the train() step (loader wait included: what a run gets), the train() step without the loader
wait, and an isolated plain step (on-device batch, plain torch Adam, no fastai: the model's ceiling).
Goals reported against: MFU >= 40%, loader wait < 10%.

Loader diagnostics: per image in this process (decode, train transform, whole `__getitem__`), the host-to-device copy of
one batch (pageable as fastai does, and pinned), and the project's `train_loader` alone (no GPU) at several worker counts.

  python bench/train_throughput.py --backbone resproto-tiny-vit --frames 640 --steps 20       # CPU smoke, about a minute
  python bench/train_throughput.py --backbone ViT-B-16 --device cuda --precision bf16 --batch 32 --frames 20000 --steps 600
"""
import argparse, json, os, statistics, sys, tempfile, time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path: sys.path.insert(0, ROOT)  # run from a checkout: `python bench/train_throughput.py`
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/synth_data.py

def log(*a): print(*a, flush=True)

def make_timer_callbacks(torch, warmup, steps, max_seconds, dev):
    "Two fastai callbacks sharing one record: the first of before_batch and the last of after_batch."
    from fastai.callback.core import Callback, CancelTrainException
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    rec = dict(start=[], end=[], t_fit=None, t_train_start=None, t_train_end=None, t_epoch_end=None, learn=None, stopped_by=None)

    class BenchBatchStart(Callback):
        order = -1000
        def before_fit(self): rec['t_fit'] = time.perf_counter(); rec['learn'] = self.learn
        def before_train(self):
            if self.epoch == 0: sync(); rec['t_train_start'] = time.perf_counter()
        def before_batch(self):
            if self.training and self.epoch == 0: rec['start'].append(time.perf_counter())

    class BenchBatchEnd(Callback):
        order = 1000
        def after_batch(self):
            if not (self.training and self.epoch == 0): return
            sync(); rec['end'].append(time.perf_counter())
            n = len(rec['end'])
            measured = rec['end'][-1] - (rec['end'][warmup - 1] if warmup else rec['t_train_start']) if n > warmup else 0.0
            if n >= warmup + steps: rec['stopped_by'] = 'steps'
            elif measured >= max_seconds: rec['stopped_by'] = 'max_seconds'
            if rec['stopped_by']: raise CancelTrainException()
        def after_train(self):
            if self.epoch == 0: rec['t_train_end'] = time.perf_counter()
        def after_epoch(self):  # after RunRecorder (order 60): validation and checkpoints are done
            if self.epoch == 0: rec['t_epoch_end'] = time.perf_counter()
    return rec, [BenchBatchStart, BenchBatchEnd]

def step_stats(rec, warmup, batch):
    start, end = rec['start'], rec['end']
    prev = [rec['t_train_start']] + end[:-1]  # a step runs from the previous step's end
    total = [e - p for p, e in zip(prev, end)][warmup:]
    wait = [s - p for p, s in zip(prev, start)][warmup:]
    if not total: return {}
    q = statistics.quantiles(total, n=10) if len(total) > 1 else [total[0]] * 9
    mean = sum(total) / len(total)
    return dict(steps=len(total), images_per_s=batch / mean, step_ms_mean=1e3 * mean, step_ms_median=1e3 * statistics.median(total),
                step_ms_p90=1e3 * q[8], loader_wait_ms_mean=1e3 * sum(wait) / len(wait), loader_wait_share=sum(wait) / sum(total),
                compute_ms_mean=1e3 * (sum(total) - sum(wait)) / len(total))

def matmul_rate(torch, dev, dtype, n, reps=10):
    "FLOP/s of an n x n x n matmul in `dtype`: mean of `reps` after 3 warm-ups."
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    for _ in range(3): a @ b
    sync(); times = []
    for _ in range(reps):
        t = time.perf_counter(); a @ b; sync(); times.append(time.perf_counter() - t)
    del a, b
    return 2 * n ** 3 / (sum(times) / len(times))

def plain_step_flops_and_time(torch, learn, dev, dtype, batch, image_size, steps=20):
    "FLOPs of one plain step of the run's model (FlopCounterMode) and the median time of an isolated plain step."
    from torch.utils.flop_counter import FlopCounterMode
    model, loss_func = learn.model, learn.loss_func
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    x = torch.randn(batch, 3, image_size, image_size, device=dev)
    n_real = max(1, batch // 5)
    y = torch.tensor([0] * n_real + [1] * (batch - n_real), device=dev)[torch.randperm(batch)]
    amp = lambda: torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None)
    for p in params: p.grad = None
    with FlopCounterMode(display=False) as fc:
        with amp(): pred = model(x, y); loss = loss_func(pred, y)
        loss.backward()
    flops = fc.get_total_flops()
    by_op = {str(k): v for k, v in sorted(fc.get_flop_counts().get('Global', {}).items(), key=lambda kv: -kv[1])}
    opt = torch.optim.Adam(params, lr=learn.cfg.lr, weight_decay=learn.cfg.weight_decay)  # as the run's OptimWrapper(torch.optim.Adam)
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    def plain():
        with amp(): pred = model(x, y); loss = loss_func(pred, y)
        loss.backward(); opt.step(); opt.zero_grad()
    for _ in range(3): plain()
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for _ in range(steps):
        sync(); t = time.perf_counter(); plain(); sync(); times.append(time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == 'cuda' else None
    return flops, by_op, statistics.median(times), peak

def loader_diagnostics(torch, learn, dev, worker_counts, batches):
    "Per-image costs in this process, the host-to-device copy of a batch, and the training loader alone at several worker counts."
    from resproto.data.dataset import _read_rgb
    from resproto.data.samplers import train_loader
    ds, cfg = learn.dls.train.dataset, learn.cfg
    idx = torch.randperm(len(ds))[:min(200, len(ds))].tolist()
    out = {}
    t = time.perf_counter(); images = [_read_rgb(ds.records[i].path) for i in idx]; out['decode_ms_per_image'] = 1e3 * (time.perf_counter() - t) / len(idx)
    t = time.perf_counter(); xs = [ds.transform(im) for im in images]; out['transform_ms_per_image'] = 1e3 * (time.perf_counter() - t) / len(idx)
    t = time.perf_counter()
    for i in idx: ds[i]
    out['getitem_ms_per_image'] = 1e3 * (time.perf_counter() - t) / len(idx)
    out['getitem_overhead_ms_per_image'] = out['getitem_ms_per_image'] - out['decode_ms_per_image'] - out['transform_ms_per_image']
    out['torch_threads_main_process'] = torch.get_num_threads()
    xb = torch.stack((xs * (cfg.batch_size // len(xs) + 1))[:cfg.batch_size])
    out['batch_mb'] = xb.numel() * xb.element_size() / 2**20
    if dev.type == 'cuda':
        for name, src, nb in (('pageable', xb, False), ('pinned', xb.pin_memory(), True)):
            src.to(dev, non_blocking=nb); torch.cuda.synchronize(); ts = []
            for _ in range(10):
                t = time.perf_counter(); src.to(dev, non_blocking=nb); torch.cuda.synchronize(); ts.append(time.perf_counter() - t)
            out[f'h2d_ms_per_batch_{name}'] = 1e3 * statistics.median(ts)
    out['loader_only'] = {}
    for w in worker_counts:
        dl = train_loader(ds, cfg, w)
        # the whole pass from the iterator's start: workers prefetch several batches each while the first one loads, so a
        # clock started after the first batch would count batches that were ready before it
        t0 = time.perf_counter(); it = iter(dl); next(it); t1 = time.perf_counter(); n = 1
        for _ in range(min(batches, len(dl) - 1)): next(it); n += 1
        t2 = time.perf_counter()
        out['loader_only'][str(w)] = dict(workers=w, first_batch_s=t1 - t0, images_per_s=n * cfg.batch_size / (t2 - t0), batches=n)
        log(f"  loader alone, {w:2d} workers: {out['loader_only'][str(w)]['images_per_s'] or 0:8.0f} images/s (first batch {t1 - t0:.2f} s)")
        del it, dl
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--backbone', default='resproto-tiny-vit'); p.add_argument('--batch', type=int, default=32)
    p.add_argument('--device', default='cpu'); p.add_argument('--precision', default='auto', choices=['auto', 'fp32', 'fp16', 'bf16'])
    p.add_argument('--frames', type=int, default=640, help='training frames of the synthetic tree (20000: tens of thousands of files)')
    p.add_argument('--val_frames', type=int, default=160); p.add_argument('--test_frames', type=int, default=160)
    p.add_argument('--frames_per_video', type=int, default=32)
    p.add_argument('--data', help='data root for the synthetic tree (kept, and reused when complete); default: a temporary folder')
    p.add_argument('--steps', type=int, default=20, help='measured training steps (after --warmup)')
    p.add_argument('--warmup', type=int, default=5); p.add_argument('--max_seconds', type=float, default=60, help='cap on the measured steps')
    p.add_argument('--num_workers', type=int, default=None, help='data-loader workers (default: the project default, resolve_workers)')
    p.add_argument('--loader', default='current', choices=['current', '0.2.0'],
                   help="loader settings: the project's, or 0.2.0's (at most 4 workers, pageable memory, 2 batches ahead) for a before/after")
    p.add_argument('--loader_workers', type=int, nargs='*', default=None,
                   help='worker counts for the loader-alone diagnostic (default: the run\'s and all CPUs but one; none: skip)')
    p.add_argument('--loader_batches', type=int, default=40)
    p.add_argument('--matmul_n', type=int, default=None, help='matmul size for the peak rate (default 8192 on cuda, 1024 on cpu)')
    p.add_argument('--out', help='write the results as JSON here')
    args = p.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    t_all = time.time()
    import torch
    from fastai.learner import defaults
    from resproto.config import RunConfig
    from resproto.devices import resolve_device, resolve_precision, resolve_workers
    from resproto.train.train import train
    import resproto.data.samplers
    import synth_data
    if args.loader == '0.2.0':  # the loader before resproto 0.3: min(4, CPUs) workers, no pinned memory, default prefetch
        if args.num_workers is None: args.num_workers = min(4, len(os.sched_getaffinity(0)))
        resproto.data.samplers.loader_options = lambda workers, device=None: dict(num_workers=workers, **(dict(persistent_workers=True) if workers > 0 else {}))
    # the data first: its writer forks a process pool, before this process initialises CUDA
    tmp = tempfile.TemporaryDirectory(prefix='train_throughput_')
    data_root = Path(args.data or Path(tmp.name)/'data')
    t = time.time()
    ff = synth_data.write_ffpp(data_root, args.frames, args.val_frames, args.test_frames, args.frames_per_video, log=log)
    done = json.loads((ff/synth_data.DONE).read_text())
    data = dict(root=str(ff), files=done['files'], gb=done['bytes'] / 1e9, write_s=round(time.time() - t, 1))
    dev = resolve_device(args.device)
    precision = resolve_precision(args.precision, dev)
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(precision)
    report = dict(bench='train_throughput', args=vars(args), torch=torch.__version__, precision=precision,
                  device=torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu', cpus=len(os.sched_getaffinity(0)), data=data)
    def save():
        if args.out: Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    save()

    # one epoch (cut after the measured steps): the default 20 would go on; a constant schedule, so the cut changes nothing else
    cfg = RunConfig(backbone=args.backbone, pretrained=None, data_root=str(data_root), batch_size=args.batch, device=str(dev), epochs=1,
                    precision=precision, num_workers=args.num_workers, results_dir=str(Path(tmp.name)/'runs'), run_name='bench')
    report['workers'] = resolve_workers(cfg.num_workers)
    rec, cbs = make_timer_callbacks(torch, args.warmup, args.steps, args.max_seconds, dev)
    defaults.callbacks = list(defaults.callbacks) + cbs
    log(f'train(): {args.backbone} (random weights), batch {args.batch}, {dev}, {precision}, {report["workers"]} loader workers, '
        f'{args.warmup} warm-up + up to {args.steps} measured steps (at most {args.max_seconds:.0f} s)')
    t = time.perf_counter()
    try: train(cfg, evaluate_tests=False)
    finally: defaults.callbacks = [c for c in defaults.callbacks if c not in cbs]
    learn = rec['learn']
    tr = step_stats(rec, args.warmup, args.batch)
    if not tr: sys.exit(f"train(): the epoch ended after {len(rec['end'])} steps, none after the {args.warmup} warm-up steps: "
                        f"use more --frames or fewer --warmup steps")
    tr.update(train_call_s=time.perf_counter() - t, setup_s=rec['t_train_start'] - t,
              epoch_end_s=(rec['t_epoch_end'] - rec['t_train_end']) if rec['t_epoch_end'] and rec['t_train_end'] else None,
              stopped_by=rec['stopped_by'], steps_per_epoch=len(learn.dls.train), train_frames=len(learn.dls.train.dataset),
              peak_mb=torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == 'cuda' else None)
    report['train'] = tr
    save()
    log(f"train(): {tr['steps']} measured steps, {tr['images_per_s']:.1f} images/s, step {tr['step_ms_mean']:.1f} ms "
        f"(median {tr['step_ms_median']:.1f}, p90 {tr['step_ms_p90']:.1f}), loader wait {tr['loader_wait_ms_mean']:.1f} ms = "
        f"{100 * tr['loader_wait_share']:.1f}% of the step; setup {tr['setup_s']:.1f} s, epoch end (validation, checkpoints) {tr['epoch_end_s']:.1f} s")

    rate = matmul_rate(torch, dev, dtype or torch.float32, args.matmul_n or (8192 if dev.type == 'cuda' else 1024))
    image_size = learn.dls.train.dataset[0][0].shape[-1]
    flops, by_op, iso_s, peak_mb = plain_step_flops_and_time(torch, learn, dev, dtype, args.batch, image_size)
    mfu = dict(step_flops=flops, flops_by_op=by_op, matmul_flops_per_s=rate, matmul_n=args.matmul_n or (8192 if dev.type == 'cuda' else 1024),
               isolated_step_ms=1e3 * iso_s, isolated_peak_mb=peak_mb,
               mfu_train_step=flops / (tr['step_ms_mean'] / 1e3) / rate,
               mfu_train_compute=flops / (tr['compute_ms_mean'] / 1e3) / rate,
               mfu_isolated_step=flops / iso_s / rate)
    report['mfu'] = mfu
    report['goals'] = dict(mfu_ge_40pct=mfu['mfu_train_step'] >= 0.40, loader_wait_lt_10pct=tr['loader_wait_share'] < 0.10)
    save()
    log(f"FLOPs of one plain step: {flops / 1e12:.3f} TFLOP; matmul rate {rate / 1e12:.1f} TFLOP/s ({precision}, n={mfu['matmul_n']}); "
        f"isolated plain step {1e3 * iso_s:.1f} ms")

    workers = args.loader_workers
    if workers is None: workers = sorted({report['workers'], max(1, report['cpus'] - 1)})
    if workers:
        log('loader diagnostics:')
        report['loader'] = loader_diagnostics(torch, learn, dev, workers, args.loader_batches)
        save()
    report['total_s'] = time.time() - t_all
    save()

    L = report.get('loader', {})
    print(f"\ntrain throughput: {args.backbone}, batch {args.batch}, {report['device']}, {precision}, {report['workers']} loader workers, "
          f"{report['data']['files']} synthetic frames")
    rows = [('images/s (train() step)', f"{tr['images_per_s']:.1f}"),
            ('step ms mean / median / p90', f"{tr['step_ms_mean']:.1f} / {tr['step_ms_median']:.1f} / {tr['step_ms_p90']:.1f}"),
            ('loader wait ms / share (goal < 10%)', f"{tr['loader_wait_ms_mean']:.1f} / {100 * tr['loader_wait_share']:.1f}%"),
            ('compute ms (step - wait)', f"{tr['compute_ms_mean']:.1f}"),
            ('train() peak MB / setup s / epoch end s', f"{tr['peak_mb'] or 0:.0f} / {tr['setup_s']:.1f} / {tr['epoch_end_s'] or 0:.1f}"),
            ('isolated plain step ms', f"{1e3 * iso_s:.1f}"),
            ('plain step TFLOP', f"{flops / 1e12:.3f}"),
            ('matmul TFLOP/s', f"{rate / 1e12:.1f}"),
            ('MFU train() step (goal >= 40%)', f"{100 * mfu['mfu_train_step']:.1f}%"),
            ('MFU train() compute only', f"{100 * mfu['mfu_train_compute']:.1f}%"),
            ('MFU isolated plain step', f"{100 * mfu['mfu_isolated_step']:.1f}%")]
    if L:
        rows += [('decode / transform / getitem ms per image', f"{L['decode_ms_per_image']:.2f} / {L['transform_ms_per_image']:.2f} / {L['getitem_ms_per_image']:.2f}")]
        if 'h2d_ms_per_batch_pageable' in L:
            rows += [('H2D ms per batch pageable / pinned', f"{L['h2d_ms_per_batch_pageable']:.2f} / {L['h2d_ms_per_batch_pinned']:.2f}")]
        rows += [(f"loader alone, {v['workers']} workers, images/s", f"{v['images_per_s'] or 0:.0f}") for v in L['loader_only'].values()]
    for k, v in rows: print(f'{k:44s} {v:>20s}')
    tmp.cleanup()

if __name__ == '__main__': main()
