#!/usr/bin/env python3
"""GRP step benchmark: one model, one batch, side by side in one run.

Variants (batches as the release draws them, about 1 real : 4 fakes, except `balanced`):
  plain      forward + backward + optimizer step (no GRP)
  floor      the exact step's cost floor: 1 forward and 3 backward passes of the loss, then the step (no norms, no bank)
  exact      our GRP step on any batch, the default: 1 forward, autograd.grad of L_0 and L_1 (retain_graph), backward
             of L, the bank update (k-means), step
  balanced   our GRP step with balanced_batches (a 50/50 batch, uniform prior): 1 forward, 2 backward passes give g_0,
             g_1 and the update gradient
  every4     grp_every=4 with the default exact step: one exact step then three plain steps (time per step, averaged)
  release    the release's way re-enacted: a deep copy of model and optimizer, a second forward and two backward
             passes on the copy for g_0 and g_1, then the plain step

Time: all variants run round-robin in one process (so machine load hits them alike); median seconds per step.
Memory: each variant runs alone in a fresh process; peak = CPU RSS high-water mark (VmHWM) or GPU max allocated,
and 'step' memory = peak minus the baseline with model, optimizer and batch in place.

  python bench/grp_step.py --backbone resproto-tiny --batch 8 --steps 5
  python bench/grp_step.py --backbone ViT-B-16 --batch 8 --steps 3             # random weights: no download
  python bench/grp_step.py --backbone ViT-B-16 --batch 32 --device cuda --precision bf16   # ~4 min with the memory runs
"""
import argparse, copy, json, os, resource, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path: sys.path.insert(0, ROOT)  # run from a checkout: `python bench/grp_step.py`
VARIANTS = ('plain', 'floor', 'exact', 'balanced', 'every4', 'release')

def _status_mb(key):
    try:
        for line in open('/proc/self/status'):
            if line.startswith(key + ':'): return int(line.split()[1]) / 1024
    except OSError: pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def setup(args):
    import torch
    from resproto.model.clip import load_backbone, ResidualCLIP
    from resproto.model.losses import RLLoss
    from resproto.model.prototypes import PrototypeBank
    from resproto.train.learner import PredLoss
    from resproto.train.callbacks import grp_step
    torch.manual_seed(0)
    dev = torch.device(args.device)
    bb = load_backbone(args.backbone, None, device=dev)
    model = ResidualCLIP(bb.model, bb.tokenizer).to(dev).train()
    loss = PredLoss(RLLoss([1, 4])).to(dev)              # shuffled batches: the training set's prior
    balanced_loss = PredLoss(RLLoss([1, 1])).to(dev)     # balanced batches: a uniform prior
    bank = PrototypeBank(model.text_anchors.shape[1], per_class=64).to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-7)
    x = torch.randn(args.batch, 3, bb.image_size, bb.image_size, device=dev)
    n_real = max(1, args.batch // 5)
    y = torch.tensor([0] * n_real + [1] * (args.batch - n_real), device=dev)[torch.randperm(args.batch)]
    y_balanced = torch.tensor([0, 1] * (args.batch // 2), device=dev)
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(args.precision)
    amp = lambda: torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None)

    def plain():
        with amp(): pred = model(x, y)
        loss(pred, y).backward(); opt.step(); opt.zero_grad()

    def floor():
        with amp(): pred = model(x, y)
        l = loss(pred, y)
        for _ in range(2): torch.autograd.grad(l, params, retain_graph=True)
        l.backward(); opt.step(); opt.zero_grad()

    def exact():
        with amp(): pred = model(x, y)
        l = loss(pred, y)
        scores, _ = grp_step(loss.per_class(pred, y), params, balanced=False)
        l.backward(); bank.update(pred[1].detach(), y, scores); opt.step(); opt.zero_grad()

    def balanced():
        with amp(): pred = model(x, y_balanced)
        scores, grads = grp_step(balanced_loss.per_class(pred, y_balanced), params, balanced=True)
        for p, g in zip(params, grads): p.grad = g
        del grads
        bank.update(pred[1].detach(), y_balanced, scores); opt.step(); opt.zero_grad()

    def every4():
        exact()
        for _ in range(3): plain()

    def release():
        m2, o2 = copy.deepcopy(model), copy.deepcopy(opt)
        with amp(): pred2 = m2(x, y)
        per = loss.per_class(pred2, y)
        norms = []
        for c in range(2):
            o2.zero_grad()
            per[c].backward(retain_graph=c == 0)
            norms.append(torch.stack([p.grad.norm() for p in m2.parameters() if p.grad is not None]).norm())
        feats = pred2[1].detach()
        del m2, o2, pred2, per
        bank.update(feats, y, torch.stack(norms))
        plain()

    steps = dict(plain=plain, floor=floor, exact=exact, balanced=balanced, every4=every4, release=release)
    per_call = dict(every4=4)
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    return torch, dev, steps, per_call, sync

def measure_memory(args):
    torch, dev, steps, per_call, sync = setup(args)
    cuda = dev.type == 'cuda'
    step = steps[args.memory]
    sync()
    if cuda: torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() / 2**20 if cuda else _status_mb('VmRSS')
    step(); step(); sync()
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else _status_mb('VmHWM')
    print(json.dumps({'variant': args.memory, 'peak_mb': peak, 'step_mb': peak - base}))

def measure_time(args):
    torch, dev, steps, per_call, sync = setup(args)
    for v in VARIANTS: steps[v]()  # warm-up
    times = {v: [] for v in VARIANTS}
    for _ in range(args.steps):
        for v in VARIANTS:
            sync(); t = time.perf_counter(); steps[v](); sync()
            times[v].append((time.perf_counter() - t) / per_call.get(v, 1))
    print(json.dumps({v: statistics.median(t) for v, t in times.items()}))

def child(args, extra):
    # the child sees the same resproto as this process (a checkout works without installing it)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get('PYTHONPATH')) if p))
    out = subprocess.run([sys.executable, __file__] + extra + sys.argv[1:], capture_output=True, text=True, env=env)
    if out.returncode: sys.exit(f'{extra} failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--backbone', default='resproto-tiny'); p.add_argument('--batch', type=int, default=8)
    p.add_argument('--steps', type=int, default=5, help='timed rounds (each runs every variant once)')
    p.add_argument('--device', default='cpu'); p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16', 'fp16'])
    p.add_argument('--no_memory', action='store_true', help='time only (the memory runs start one process per variant)')
    p.add_argument('--out', help='also write the figures as JSON here')
    p.add_argument('--memory', help=argparse.SUPPRESS); p.add_argument('--time', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.batch % 2: p.error('--batch must be even (balanced batches)')
    if args.memory: return measure_memory(args)
    if args.time: return measure_time(args)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    mem = {}
    for v in ([] if args.no_memory else VARIANTS):  # progress on stderr: each child builds the model afresh (slow for big backbones)
        mem[v] = child(args, ['--memory', v]); print(f'memory {v}: {mem[v]}', file=sys.stderr, flush=True)
    t = child(args, ['--time'])
    print(f"GRP step benchmark: {args.backbone}, batch {args.batch}, {args.device}, {args.precision}, median of {args.steps} rounds")
    print(f"{'variant':9s} {'s/step':>8s} {'x plain':>8s} {'x release':>9s}" + (f" {'peak MB':>8s} {'x plain':>8s} {'step MB':>8s} {'x plain':>8s}" if mem else ''))
    if args.out:
        with open(args.out, 'w') as f: f.write(json.dumps(dict(bench='grp_step', args={k: v for k, v in vars(args).items() if k not in ('memory', 'time', 'out')},
                                                   seconds_per_step=t, x_plain={v: t[v] / t['plain'] for v in VARIANTS}, memory=mem), indent=1))
    for v in VARIANTS:
        line = f"{v:9s} {t[v]:8.3f} {t[v] / t['plain']:8.2f} {t[v] / t['release']:9.2f}"
        if mem:
            m, base = mem[v], mem['plain']
            line += f" {m['peak_mb']:8.0f} {m['peak_mb'] / base['peak_mb']:8.2f} {m['step_mb']:8.0f} {m['step_mb'] / max(base['step_mb'], 1e-9):8.2f}"
        print(line)

if __name__ == '__main__': main()
