#!/usr/bin/env python3
"""What `grp_every` costs and what it does to the prototype bank, measured on the embedded demo data in one run.

For each k in --every, trains the demo configuration (resproto-tiny from scratch, one sample method held out) with
grp_every=k and the same seed, then reports: training seconds, the number of steps that updated the bank, the frame and
video AUC on the held-out method and on all methods (scored by the bank), and how close its bank is to the k=1 bank
(mean cosine similarity of each prototype to its nearest k=1 prototype of the same class).

With class-balanced batches (the default) the GRP step's update gradient equals the plain step's (METHOD section 4), so
the runs differ only in how often the bank is scored and updated; their models are the same up to float rounding.

  python bench/grp_every.py --every 1 2 4 --epochs 6
"""
import argparse, json, os, sys, tempfile, time
from dataclasses import replace
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path: sys.path.insert(0, ROOT)  # run from a checkout

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--every', type=int, nargs='+', default=[1, 2, 4]); p.add_argument('--epochs', type=int, default=6)
    p.add_argument('--seed', type=int, default=0); p.add_argument('--device', default='cpu')
    args = p.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import contextlib, io
    import numpy as np, pandas as pd, torch, torch.nn.functional as F
    from resproto.data.sample import make_sample_dataset, default_sample_root, SAMPLE_METHODS
    from resproto.demo import demo_config
    from resproto.run import train, evaluate, load_model
    holdout = SAMPLE_METHODS[-1]
    root = default_sample_root(64); make_sample_dataset(root, size=64)
    rows, banks = [], {}
    with tempfile.TemporaryDirectory() as out:
        for k in args.every:
            cfg = replace(demo_config(root, holdout, epochs=args.epochs, seed=args.seed, out=out, run_name=f'every{k}',
                                      device=args.device), grp_every=k)
            t = time.time()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                run = train(cfg, evaluate_tests=False)
                secs = time.time() - t
                res = evaluate(run, replace(cfg, manipu_types=list(SAMPLE_METHODS)), device=args.device)
            m = pd.read_csv(run/'metrics.csv')
            _, bank, _, _ = load_model(run)
            banks[k] = bank
            rows.append(dict(grp_every=k, train_s=round(secs, 1),
                             heldout_frame_auc=res[f'FF++ [{holdout}] / frame']['auc'], heldout_video_auc=res[f'FF++ [{holdout}] / video']['auc'],
                             all_frame_auc=res['FF++ / frame']['auc'], best_epoch=int(m.val_auc.idxmax()) + 1,
                             bank=f'{int(m.bank_real.iloc[-1])}+{int(m.bank_fake.iloc[-1])}'))
            print(f'grp_every={k}: {rows[-1]}', file=sys.stderr, flush=True)
    ref = banks[args.every[0]]
    for r in rows:
        b = banks[r['grp_every']]
        sims = []
        for c in range(b.n_classes):
            a, z = F.normalize(b.prototypes(c), dim=-1), F.normalize(ref.prototypes(c), dim=-1)
            if len(a) and len(z): sims.append((a @ z.T).max(1).values)
        r['cos_to_first'] = round(float(torch.cat(sims).mean()), 4) if sims else float('nan')
    df = pd.DataFrame(rows)
    t1 = df.train_s.iloc[0]
    df.insert(2, 'x_time', (df.train_s / t1).round(2))
    print(f'grp_every on the demo data ({holdout} held out, {args.epochs} epochs, seed {args.seed}, {args.device}); '
          f'bank similarity is to grp_every={args.every[0]}')
    fmt = lambda v: f'{v:.3f}' if isinstance(v, float) else str(v)
    print('| ' + ' | '.join(df.columns) + ' |\n|' + '--:|' * len(df.columns))
    for r in df.itertuples(index=False): print('| ' + ' | '.join(fmt(v) for v in r) + ' |')

if __name__ == '__main__': main()
