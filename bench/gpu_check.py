#!/usr/bin/env python3
"""Mixed-precision checks of the GRP step on a GPU (the CPU test suite cannot reach these paths: fp16/bf16 autocast and a
real loss scaler are GPU-only in fastai).

1. exactness: on the device in fp32, the Learner's own GRP step (balanced: 2 backward passes; exact: 3) gives the same class
   gradient norms and update gradients as the brute-force reference (separate passes on model copies);
2. scale independence under real autocast: g_c from a bf16 and an fp16 forward (fp16 with the loss scaled by 2**16, as
   fastai's GradScaler starts) agree with the fp32 values, i.e. the norms are neither overflowed nor scale-dependent;
3. training: a short `train()` of the tiny model per precision (auto, fp16, bf16) on a miniature FF++ tree: finite
   validation metrics, a ready bank, GRP updates done and none skipped after the scaler settles.

  python bench/gpu_check.py --device cuda
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path: sys.path.insert(0, ROOT)  # run from a checkout

def rel(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))

def exactness(dev, tmp):
    import torch
    from resproto.config import RunConfig
    from resproto.train.learner import build_learner
    from resproto.train.callbacks import grp_step
    from resproto.testing import tiny_datasets, reference_step
    train_ds, val_ds = tiny_datasets(Path(tmp)/'ex'/'FaceForensics++')
    cfg = RunConfig(backbone='resproto-tiny-vit', pretrained=None, batch_size=8, eval_batch_size=16, epochs=1, epochs_before_grp=0,
                    n_prototypes=8, n_clusters=2, device=str(dev), precision='fp32', num_workers=0)
    learn = build_learner(cfg, train_ds, val_ds)
    model, loss = learn.model, learn.loss_func
    params = [p for p in model.parameters() if p.requires_grad]
    torch.manual_seed(1)
    x = torch.stack([train_ds[i][0] for i in range(8)]).to(dev)
    out = {}
    for mode, y in (('balanced', [0, 1] * 4), ('exact', [0, 1, 1, 1, 0, 1, 1, 1])):
        y = torch.tensor(y, device=dev)
        ref = reference_step(model, loss, x, y)
        model.zero_grad()
        pred = model(x, y)
        balanced = mode == 'balanced'
        scores, grads = grp_step(loss.per_class(pred, y), params, 1.0, balanced)
        if grads is None:
            loss(pred, y).backward(); grads = [p.grad for p in params]
        g_err = max(rel(a, b) for a, b in zip(grads, ref['L']) if b is not None)
        out[mode] = dict(score_rel_err=rel(scores, torch.stack([ref['g0'], ref['g1']])), grad_rel_err=g_err)
        assert out[mode]['score_rel_err'] < 1e-3 and g_err < 1e-3, (mode, out[mode])
    # the same batch under autocast: bf16, and fp16 with the loss scaled as fastai's GradScaler starts (2**16)
    y = torch.tensor([0, 1] * 4, device=dev)
    base = None
    for prec, dtype, scale in (('fp32', None, 1.0), ('bf16', torch.bfloat16, 1.0), ('fp16', torch.float16, 2.0**16)):
        if dev.type != 'cuda' and dtype is not None: continue
        if prec == 'bf16' and not torch.cuda.is_bf16_supported(): continue
        with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            pred = model(x, y)
            per_class = loss.per_class(pred, y)
        scores, _ = grp_step(per_class, params, scale, False)
        assert torch.isfinite(scores).all(), (prec, scores)
        if base is None: base = scores
        out[f'autocast_{prec}'] = dict(scores=[round(float(s), 6) for s in scores], rel_err_vs_fp32=rel(scores, base))
        assert out[f'autocast_{prec}']['rel_err_vs_fp32'] < 0.05, (prec, out[f'autocast_{prec}'])
    return out

def training(dev, tmp, precision):
    import numpy as np, pandas as pd
    from resproto.config import RunConfig
    from resproto.testing import make_ffpp_splits
    from resproto.train.train import train
    root = Path(tmp)/'tr'/'FaceForensics++'
    if not root.exists(): make_ffpp_splits(root, methods=('Deepfakes', 'FaceSwap'), frames=4, size=64)
    cfg = RunConfig(backbone='resproto-tiny-vit', pretrained=None, data_root=str(root.parent), methods=['Deepfakes', 'FaceSwap'],
                    test_datasets=['FF++'], batch_size=8, eval_batch_size=16, epochs=3, epochs_before_grp=0, n_prototypes=8,
                    n_clusters=2, lr=1e-3, device=str(dev), precision=precision, num_workers=0,
                    results_dir=str(Path(tmp)/'runs'), run_name=f'gpu-{precision}')
    t = time.time()
    run = train(cfg)
    m = pd.read_csv(run/'metrics.csv')
    res = json.loads((run/'results.json').read_text())
    out = dict(seconds=round(time.time() - t, 1), train_loss=[round(v, 4) for v in m.train_loss], val_auc=[round(v, 4) for v in m.val_auc],
               bank=[int(m.bank_real.iloc[-1]), int(m.bank_fake.iloc[-1])], test_frame_auc=round(res['FF++ / frame']['auc'], 4))
    assert len(m) == 3 and np.isfinite(m[['train_loss', 'val_auc']].to_numpy()).all(), m
    assert m.bank_real.iloc[-1] > 0 and m.bank_fake.iloc[-1] > 0, m  # GRP filled the bank with both classes
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cuda'); p.add_argument('--out', help='write the results as JSON here')
    args = p.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import torch
    dev = torch.device(args.device)
    report = dict(torch=torch.__version__, device=torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu')
    with tempfile.TemporaryDirectory() as tmp:
        report['exactness'] = exactness(dev, tmp)
        print(json.dumps(report, indent=1), flush=True)
        precisions = ['auto', 'fp16', 'bf16'] if dev.type == 'cuda' else ['fp32']
        report['training'] = {pr: training(dev, tmp, pr) for pr in precisions}
    print(json.dumps(report['training'], indent=1))
    if args.out: Path(args.out).write_text(json.dumps(report, indent=1))
    print('gpu_check: all checks passed')

if __name__ == '__main__': main()
