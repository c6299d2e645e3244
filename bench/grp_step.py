#!/usr/bin/env python3
"""GRP step benchmark: one model, one batch, side by side in one run.

Variants (each in its own subprocess, so each peak memory is its own):
  plain      forward + backward + optimizer step (no GRP)
  exact      our GRP step on any batch: 1 forward, autograd.grad of L_0 and L_1 (retain_graph), backward of L, step
  balanced   our GRP step on a class-balanced batch: 1 forward, 2 backward passes give g_0, g_1 and the update gradient
  release    the release's way re-enacted: plain step, plus a deep copy of model and optimizer, a second forward
             and two backward passes on the copy for g_0 and g_1

Prints median step time, peak memory over the model-loaded baseline, and ratios. Usage:
  python bench/grp_step.py --backbone resproto-tiny --batch 8 --steps 5
  python bench/grp_step.py --backbone ViT-B-16 --batch 8 --steps 3       # random weights, no download
"""
import argparse, copy, json, os, resource, statistics, subprocess, sys, time

def _status_mb(key):
    for line in open('/proc/self/status'):
        if line.startswith(key + ':'): return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def rss_mb(): return _status_mb('VmRSS')
def peak_rss_mb(): return _status_mb('VmHWM')

def run_variant(args):
    import torch
    from resproto.clip import load_backbone, ResidualCLIP
    from resproto.losses import RLLoss
    from resproto.prototypes import PrototypeBank
    from resproto.learner import PredLoss, grp_step
    torch.manual_seed(0)
    dev = torch.device(args.device)
    cuda = dev.type == 'cuda'
    bb = load_backbone(args.backbone, None, device=dev)
    model = ResidualCLIP(bb.model, bb.tokenizer).to(dev).train()
    loss = PredLoss(RLLoss([1, 4])).to(dev)
    bank = PrototypeBank(model.text_anchors.shape[1], per_class=64).to(dev)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-7)
    x = torch.randn(args.batch, 3, bb.image_size, bb.image_size, device=dev)
    y = torch.tensor([0, 1] * (args.batch // 2), device=dev)
    params = [p for p in model.parameters() if p.requires_grad]
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(args.precision)
    amp = lambda: torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None)

    def plain():
        with amp(): pred = model(x, y)
        loss(pred, y).backward(); opt.step(); opt.zero_grad()

    def exact():
        with amp(): pred = model(x, y)
        l = loss(pred, y)
        scores, _ = grp_step(loss.per_class(pred, y), params, balanced=False)
        l.backward(); bank.update(pred[1].detach(), y, scores); opt.step(); opt.zero_grad()

    def balanced():
        with amp(): pred = model(x, y)
        scores, grads = grp_step(loss.per_class(pred, y), params, balanced=True)
        for p, g in zip(params, grads): p.grad = g
        bank.update(pred[1].detach(), y, scores); opt.step(); opt.zero_grad()

    def release():
        m2, o2 = copy.deepcopy(model), copy.deepcopy(opt)
        with amp(): pred2 = m2(x, y)
        per = loss.per_class(pred2, y)
        norms = []
        for c in range(2):
            o2.zero_grad()
            per[c].backward(retain_graph=c == 0)
            norms.append(torch.stack([p.grad.norm() for p in m2.parameters() if p.grad is not None]).norm())
        del m2, o2
        bank.update(pred2[1].detach(), y, torch.stack(norms))
        plain()

    step = dict(plain=plain, exact=exact, balanced=balanced, release=release)[args.variant]
    if cuda: torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() / 2**20 if cuda else rss_mb()  # model, optimizer and batch in place
    step()  # warm-up (allocator, kernels, Adam state)
    times = []
    for _ in range(args.steps):
        t = time.perf_counter(); step()
        if cuda: torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_rss_mb()
    print(json.dumps({'variant': args.variant, 'seconds': statistics.median(times), 'peak_mb': peak,
                      'step_mb': peak - base, 'device': str(dev)}))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--backbone', default='resproto-tiny'); p.add_argument('--batch', type=int, default=8)
    p.add_argument('--steps', type=int, default=5); p.add_argument('--device', default='cpu')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16', 'fp16'])
    p.add_argument('--variant', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant: return run_variant(args)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    rows = {}
    for v in ('plain', 'exact', 'balanced', 'release'):
        out = subprocess.run([sys.executable, __file__, '--variant', v] + sys.argv[1:], capture_output=True, text=True)
        if out.returncode: sys.exit(f'{v} failed:\n{out.stderr[-2000:]}')
        rows[v] = json.loads(out.stdout.strip().splitlines()[-1])
    base_t, base_m, base_s = rows['plain']['seconds'], rows['plain']['peak_mb'], rows['plain']['step_mb']
    print(f"GRP step benchmark: {args.backbone}, batch {args.batch}, {args.steps} timed steps, {rows['plain']['device']}, {args.precision}")
    print("peak: the process's (CPU: RSS high-water mark) or the GPU's peak; step: peak above the model+optimizer+batch baseline")
    print(f"{'variant':10s} {'s/step':>8s} {'x plain':>8s} {'x release':>9s} {'peak MB':>9s} {'x plain':>8s} {'step MB':>8s} {'x plain':>8s}")
    for v, r in rows.items():
        print(f"{v:10s} {r['seconds']:8.3f} {r['seconds'] / base_t:8.2f} {r['seconds'] / rows['release']['seconds']:9.2f} "
              f"{r['peak_mb']:9.0f} {r['peak_mb'] / base_m:8.2f} {r['step_mb']:8.0f} {r['step_mb'] / max(base_s, 1e-9):8.2f}")

if __name__ == '__main__': main()
