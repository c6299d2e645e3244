#!/usr/bin/env python3
"""Evaluation throughput of the console scripts' own paths, side by side in one run: frames per second of
`resproto_test` (`resproto.apps.cli.eval_cli`: load the run, score the FF++ test split through the prototype bank, write
results and scores) and of `resproto_detect --detector none` on face-crop images and on face-crop videos.

The run directory is built here without training, by the project's own writers: the backbone (random weights) inside
`ResidualCLIP` as `build_learner` builds it, a `PrototypeBank` filled by its own `update` (so scoring goes through the
bank, as for a trained run), `save_checkpoint` and the run's config.json. Data: the FF++ tree of bench/synth_data.py
(`--data` reuses one, e.g. that of bench/train_throughput.py) and H.264 videos written by `resproto.testing.write_video`.

Figures:
  resproto_test     eval_cli in this process with --eval_batch_size --precision --device: wall time of the command, and the
                    frames/s inside `predict_scores` (timed by a wrapper around it; everything else is model loading, the
                    index, readability checks and writing results); default data-loader workers.
  resproto_detect   `detect()` with `FakeScorer(batch_size=--batch)` (detect_cli fixes 64 and has no flag for it), on images
                    (PNG face crops of the test split) and on videos (16 frames of each, as detect_cli's default), timed
                    without the model load; then detect_cli itself (batch 64) on both, wall time including the load.
  ceilings          the model alone (forward of an on-device batch in the run's precision) and the evaluation DataLoader
                    alone (FrameDataset with the run's eval transform, as predict_scores builds it, no GPU).

  python bench/eval_throughput.py --backbone resproto-tiny-vit --test_frames 320 --videos 4            # CPU smoke
  python bench/eval_throughput.py --backbone ViT-B-16 --device cuda --precision bf16 --batch 128 --test_frames 4000
"""
import argparse, json, os, statistics, sys, tempfile, time
from pathlib import Path
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path: sys.path.insert(0, ROOT)  # run from a checkout: `python bench/eval_throughput.py`
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/synth_data.py

def log(*a): print(*a, flush=True)

def build_run(run_dir, cfg, dev):
    "A run directory (config.json, checkpoints/best.safetensors) of an untrained model with a full prototype bank."
    import torch
    from dataclasses import replace
    from resproto.model.clip import load_backbone, ResidualCLIP
    from resproto.model.prototypes import PrototypeBank
    from resproto.train.train import save_checkpoint
    bb = load_backbone(cfg.backbone, cfg.pretrained, device=dev, quick_gelu=cfg.quick_gelu)
    cfg = replace(cfg, quick_gelu=str(bb.quick_gelu).lower())  # as train() records what it built
    model = ResidualCLIP(bb.model, bb.tokenizer, use_residual=cfg.use_residual, res_lambda=cfg.res_lambda, trainable=cfg.trainable).to(dev)
    bank = PrototypeBank(model.text_anchors.shape[1], per_class=cfg.per_class, gamma=cfg.gamma, n_clusters=cfg.n_clusters,
                         top_k=cfg.top_k, tau=cfg.tau, decay=cfg.score_decay)
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0] * 8 + [1] * 24)
    while int(bank.count.min()) < cfg.per_class:  # fill both classes: 1 real and n_clusters fake candidates per update
        feats = torch.nn.functional.normalize(torch.randn(len(y), bank.dim, generator=g), dim=-1)
        bank.update(feats, y, torch.rand(2, generator=g) + 0.5)
    save_checkpoint(Path(run_dir)/'checkpoints'/'best.safetensors', SimpleNamespace(model=model, bank=bank.to(dev)), 0,
                    {'best': 0.0, 'best_epoch': 0, 'monitor': cfg.monitor}, full=False)
    cfg.to_json(Path(run_dir)/'config.json')
    return model, bank, cfg, bb

def model_ceiling(torch, model, dev, dtype, batch, size, reps=10):
    "Frames/s of the model alone: forward (features and logits) of an on-device batch."
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    x = torch.randn(batch, 3, size, size, device=dev)
    with torch.no_grad(), torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for _ in range(3): model(x)
        sync(); times = []
        for _ in range(reps):
            t = time.perf_counter(); model(x); sync(); times.append(time.perf_counter() - t)
    return batch / statistics.median(times)

def loader_ceiling(ds, batch, workers, device, max_batches=20):
    "Frames/s of the evaluation DataLoader alone (predict_scores's own, eval_loader), over a whole pass, worker start included."
    from resproto.data.samplers import eval_loader
    # the whole pass, not "after the first batch": its workers prefetch several batches each while the first one loads,
    # so the rate after the first batch counts frames that were ready before the clock started
    dl = eval_loader(ds, batch, workers, device)
    t0 = time.perf_counter(); it = iter(dl); n = len(next(it)[0]); t1 = time.perf_counter()
    for x, _ in it:
        n += len(x)
        if n >= max_batches * batch: break
    return dict(workers=workers, first_batch_s=t1 - t0, frames_per_s=n / (time.perf_counter() - t0))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--backbone', default='resproto-tiny-vit'); p.add_argument('--batch', type=int, default=128)
    p.add_argument('--device', default='cpu'); p.add_argument('--precision', default='auto', choices=['auto', 'fp32', 'fp16', 'bf16'])
    p.add_argument('--data', help='data root holding a synthetic FaceForensics++ tree (reused if complete); default: a temporary one')
    p.add_argument('--test_frames', type=int, default=320, help='test-split frames when the tree is written here')
    p.add_argument('--detect_images', type=int, default=256, help='test-split frames given to resproto_detect as image files')
    p.add_argument('--videos', type=int, default=4); p.add_argument('--video_frames', type=int, default=48)
    p.add_argument('--video_size', type=int, default=320); p.add_argument('--frames', type=int, default=16, help='frames per video (detect)')
    p.add_argument('--num_workers', type=int, default=None, help='data-loader workers of resproto_test (default: the project default)')
    p.add_argument('--out', help='write the results as JSON here')
    args = p.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    t_all = time.time()
    import torch
    import resproto.evaluate
    from resproto.config import RunConfig
    from resproto.apps.cli import eval_cli
    from resproto.apps.detect import FakeScorer, detect, detect_cli
    from resproto.devices import resolve_device, resolve_precision, resolve_workers
    from resproto.data.run_data import index_for, eval_transforms
    from resproto.data.dataset import FrameDataset
    import synth_data
    # the data first: its writers fork process pools, before this process initialises CUDA
    tmp = tempfile.TemporaryDirectory(prefix='eval_throughput_')
    work = Path(tmp.name)
    data_root = Path(args.data or work/'data')
    ff = data_root/'FaceForensics++'
    if not (ff/synth_data.DONE).is_file(): synth_data.write_ffpp(data_root, train=40, val=40, test=args.test_frames, log=log)
    else: log(f'synthetic FF++ tree {ff}: reusing')
    videos = synth_data.write_videos(work/'videos', args.videos, args.video_frames, args.video_size, log=log)
    dev = resolve_device(args.device)
    precision = resolve_precision(args.precision, dev)
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(precision)
    report = dict(bench='eval_throughput', args=vars(args), torch=torch.__version__, precision=precision,
                  device=torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu', cpus=len(os.sched_getaffinity(0)))
    def save():
        if args.out: Path(args.out).write_text(json.dumps(report, indent=1, default=str))

    cfg = RunConfig(backbone=args.backbone, pretrained=None, data_root=str(data_root), device=str(dev), precision=precision,
                    eval_batch_size=args.batch, num_workers=args.num_workers, results_dir=str(work/'runs'), run_name='bench')
    run_dir = work/'runs'/'bench'
    t = time.time()
    model, bank, cfg, bb = build_run(run_dir, cfg, dev)
    report['build_run_s'] = time.time() - t
    records = index_for(cfg, 'FF++', 'test', cfg.test_frames_per_video)
    workers = resolve_workers(cfg.num_workers)
    report.update(test_frames=len(records), workers=workers)
    log(f'run directory {run_dir} built in {report["build_run_s"]:.1f} s; {len(records)} test frames; {workers} loader workers')

    # ceilings (this also initialises CUDA and its libraries before anything is timed)
    model.eval()
    ceil = dict(model_frames_per_s=model_ceiling(torch, model, dev, dtype, args.batch, bb.image_size))
    ceil['loader'] = loader_ceiling(FrameDataset(records, eval_transforms(cfg, bb, 'FF++'), substitute=False), args.batch, workers, dev)
    report['ceilings'] = ceil
    save()
    log(f"ceilings: model alone {ceil['model_frames_per_s']:.0f} frames/s; evaluation loader alone ({workers} workers) "
        f"{ceil['loader']['frames_per_s'] or 0:.0f} frames/s")
    del model, bank
    if dev.type == 'cuda': torch.cuda.empty_cache()

    # resproto_test, in this process
    timed = dict(s=0.0, frames=0)
    original = resproto.evaluate.predict_scores
    def timed_predict(model, bank, ds, *a, **k):
        if dev.type == 'cuda': torch.cuda.synchronize()
        t = time.perf_counter(); out = original(model, bank, ds, *a, **k); timed['s'] += time.perf_counter() - t; timed['frames'] += len(ds)
        return out
    resproto.evaluate.predict_scores = timed_predict
    argv = ['--run', str(run_dir), '--eval_batch_size', str(args.batch), '--precision', precision, '--device', str(dev),
            '--out', str(work/'test_out')]
    log(f'resproto_test {" ".join(argv)}')
    t = time.perf_counter()
    try: rc = eval_cli(argv)
    finally: resproto.evaluate.predict_scores = original
    wall = time.perf_counter() - t
    res = json.loads((work/'test_out'/'results.json').read_text()) if rc == 0 else {}
    report['resproto_test'] = dict(rc=rc, wall_s=wall, frames=timed['frames'], scoring_s=timed['s'],
                                   frames_per_s_scoring=timed['frames'] / timed['s'] if timed['s'] else None,
                                   frames_per_s_wall=timed['frames'] / wall if rc == 0 else None,
                                   frame_auc=res.get('FF++ / frame', {}).get('auc'))
    save()
    rt = report['resproto_test']
    log(f"resproto_test: rc {rc}, {rt['frames']} frames, scoring {rt['scoring_s']:.2f} s = {rt['frames_per_s_scoring'] or 0:.0f} frames/s; "
        f"command {wall:.1f} s = {rt['frames_per_s_wall'] or 0:.0f} frames/s")

    # resproto_detect --detector none: detect() at --batch, then the command itself
    images = work/'detect_images'; images.mkdir()
    for i, r in enumerate(records[:: max(1, len(records) // args.detect_images)][:args.detect_images]):
        (images/f'{i:05d}_{Path(r.path).name}').symlink_to(r.path)
    n_images = len(list(images.iterdir()))
    t = time.time()
    scorer = FakeScorer(run_dir, 'best', device=dev, batch_size=args.batch)
    report['detect_model_load_s'] = time.time() - t
    detect([sorted(images.iterdir())[0]], scorer, detector='none')  # warm-up: one image
    det = {}
    for kind, paths in (('images', [images]), ('videos', [videos])):
        if dev.type == 'cuda': torch.cuda.synchronize()
        t = time.perf_counter()
        files, frames, problems = detect(paths, scorer, frames=args.frames, detector='none')
        s = time.perf_counter() - t
        scored = int(frames.fake_prob.notna().sum())
        det[kind] = dict(files=len(files), frames_scored=scored, problems=len(problems), s=s, frames_per_s=scored / s if s else None)
        if kind == 'videos': det[kind]['frames_decoded_per_s'] = len(files) * args.video_frames / s
        log(f"detect() {kind}: {len(files)} files, {scored} frames scored in {s:.2f} s = {det[kind]['frames_per_s']:.0f} frames/s"
            + (f" ({det[kind]['frames_decoded_per_s']:.0f} frames decoded/s)" if kind == 'videos' else '') + (f'; {len(problems)} problems' if problems else ''))
    del scorer
    argv = [str(images), str(videos), '--run', str(run_dir), '--detector', 'none', '--frames', str(args.frames), '--device', str(dev),
            '--out', str(work/'detect_out')]
    log(f'resproto_detect {" ".join(argv)} (its output table is not shown)')
    import contextlib, io
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()): rc = detect_cli(argv)
    wall = time.perf_counter() - t
    n_cli = len(json.loads((work/'detect_out'/'detections.json').read_text())['frames']) if rc == 0 else 0
    det['detect_cli'] = dict(rc=rc, batch=64, wall_s=wall, frames_scored=n_cli, frames_per_s_wall=n_cli / wall if rc == 0 else None)
    report['resproto_detect'] = det
    report['total_s'] = time.time() - t_all
    save()
    log(f"resproto_detect (command, batch 64): rc {rc}, {n_cli} frames in {wall:.1f} s = {det['detect_cli']['frames_per_s_wall'] or 0:.0f} frames/s")

    print(f"\neval throughput: {args.backbone}, batch {args.batch}, {report['device']}, {precision}, {workers} loader workers (resproto_test)")
    rows = [('model alone, frames/s', ceil['model_frames_per_s']),
            (f"eval loader alone ({workers} workers), frames/s", ceil['loader']['frames_per_s']),
            (f"resproto_test scoring ({rt['frames']} frames), frames/s", rt['frames_per_s_scoring']),
            ('resproto_test command (wall), frames/s', rt['frames_per_s_wall']),
            (f"detect() images ({det['images']['frames_scored']}), frames/s", det['images']['frames_per_s']),
            (f"detect() videos ({det['videos']['frames_scored']} of {det['videos']['files']}), frames/s", det['videos']['frames_per_s']),
            ('detect() videos, frames decoded/s', det['videos']['frames_decoded_per_s']),
            ('resproto_detect command (batch 64, wall), frames/s', det['detect_cli']['frames_per_s_wall'])]
    for k, v in rows: print(f'{k:52s} {v if v is None else f"{v:10.1f}":>10}')
    tmp.cleanup()

if __name__ == '__main__': main()
