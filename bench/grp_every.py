#!/usr/bin/env python3
"""What `grp_every` does to the prototype bank, measured on one training trajectory of the demo (its time cost per step
is measured by bench/grp_step.py, variant every4).

One demo training (resproto-tiny from scratch on the embedded sample data, one method held out, grp_every=1) carries extra
"shadow" banks, each updated by its own GRP callback only every k-th step (exact mode: norms only, nothing written to the
gradients), so every bank sees the same model at every step and differs only in how often it was scored and updated.
After training, the test split (all methods) is scored by the final model through each bank, and through the text-anchor
logits for reference. Reported per bank: held-out and all-method frame/video AUC, the bank's fill, and its similarity to
the k=1 bank (mean cosine similarity of each prototype to the nearest k=1 prototype of its class).

Comparing separate runs with different grp_every instead would mix in training noise: their update gradients are equal only
up to float rounding, and from-scratch training amplifies rounding into run-to-run differences as large as a seed change.

  python bench/grp_every.py --every 2 4 8 --epochs 6
"""
import argparse, os, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path: sys.path.insert(0, ROOT)  # run from a checkout

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--every', type=int, nargs='+', default=[2, 4, 8]); p.add_argument('--epochs', type=int, default=6)
    p.add_argument('--seed', type=int, default=0); p.add_argument('--device', default='cpu')
    args = p.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import numpy as np, torch, torch.nn.functional as F
    from dataclasses import replace
    from resproto.model.clip import load_backbone
    from resproto.data.dataset import FrameDataset
    from resproto.data.sample import make_sample_dataset, default_sample_root, SAMPLE_METHODS
    from resproto.apps.demo import demo_config
    from resproto.evaluate import frame_features
    from resproto.devices import seed_everything
    from resproto.train.learner import build_learner
    from resproto.train.callbacks import GRPCallback
    from resproto.metrics import frame_metrics, video_metrics
    from resproto.model.prototypes import PrototypeBank
    from resproto.data.run_data import run_indexes, run_datasets, index_for, eval_transforms
    holdout = SAMPLE_METHODS[-1]
    root = default_sample_root(64); make_sample_dataset(root, size=64)
    with tempfile.TemporaryDirectory() as out:
        cfg = demo_config(root, holdout, epochs=args.epochs, seed=args.seed, out=out, run_name='every', device=args.device)
        seed_everything(cfg.seed)
        bb = load_backbone(cfg.backbone, cfg.pretrained, device=args.device)
        train_ds, val_ds = run_datasets(cfg, bb, run_indexes(cfg))
        learn = build_learner(cfg, train_ds, val_ds, bb, path=out)
        banks = {1: learn.bank}
        for k in args.every:
            banks[k] = PrototypeBank(learn.bank.protos.shape[-1], per_class=cfg.per_class, gamma=cfg.gamma, n_clusters=cfg.n_clusters,
                                     top_k=cfg.top_k, tau=cfg.tau, decay=cfg.score_decay).to(learn.bank.protos.device)
            cb = GRPCallback(banks[k], cfg.epochs_before_grp, every=k, mode='exact')
            cb.order = 89  # before the run's own callback
            learn.add_cb(cb)
        t = time.time()
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(cfg.epochs, cfg.lr)
        print(f'trained {args.epochs} epochs with {len(args.every)} shadow banks in {time.time() - t:.0f} s', file=sys.stderr)
    model = learn.model.eval()
    records = index_for(replace(cfg, methods=list(SAMPLE_METHODS)), 'FF++', 'test', cfg.test_frames_per_video)
    feats = torch.as_tensor(frame_features(model, FrameDataset(records, eval_transforms(cfg, bb, 'FF++')),
                                           cfg.eval_batch_size, args.device))
    labels = np.array([r.label for r in records]); videos = [r.video for r in records]
    held = np.array([r.label == 0 or r.method == holdout for r in records])
    def aucs(scores):
        out = {}
        for name, m in (('held-out', held), ('all', np.ones_like(held))):
            vs = [v for v, keep in zip(videos, m) if keep]
            out[f'{name} frame'] = frame_metrics(labels[m], scores[m])['auc']
            out[f'{name} video'] = video_metrics(labels[m], scores[m], vs, cfg.video_reduce)['auc']
        return out
    with torch.no_grad():
        logits = model.scale() * feats.to(model.text_anchors) @ model.text_anchors.T
    rows = [('logits (no bank)', '-', '-', aucs(logits.float().softmax(-1)[:, 1].cpu().numpy()))]
    ref = banks[1]
    for k, bank in banks.items():
        sims = [(F.normalize(bank.prototypes(c), dim=-1) @ F.normalize(ref.prototypes(c), dim=-1).T).max(1).values
                for c in range(bank.n_classes) if len(bank.prototypes(c)) and len(ref.prototypes(c))]
        sim = f'{float(torch.cat(sims).mean()):.3f}' if sims else '-'
        scores = bank.predict(feats.to(bank.protos.device))[:, 1].cpu().numpy() if bank.is_ready() else None
        rows.append((f'grp_every={k}', f'{int(bank.count[0])}+{int(bank.count[1])}', sim,
                     aucs(scores) if scores is not None else {}))
    cols = ['held-out frame', 'held-out video', 'all frame', 'all video']
    print(f'prototype banks of one demo trajectory ({holdout} held out, {args.epochs} epochs, seed {args.seed}, {args.device}); '
          f'AUC on the test split by the final model')
    print('| scored by | bank (real+fake) | cos to grp_every=1 | ' + ' | '.join(f'{c} AUC' for c in cols) + ' |')
    print('|:--|--:|--:|' + '--:|' * len(cols))
    for name, fill, sim, a in rows:
        print(f'| {name} | {fill} | {sim} | ' + ' | '.join(f'{a[c]:.3f}' if c in a else '-' for c in cols) + ' |')

if __name__ == '__main__': main()
