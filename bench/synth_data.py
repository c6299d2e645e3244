#!/usr/bin/env python3
"""Synthetic FaceForensics++ trees and face-crop videos for the throughput benchmarks (bench/train_throughput.py,
bench/eval_throughput.py): what the loaders decode costs what real face crops cost, the content is noise.

Frames are PNG "face crops" of random sizes 256-320 px (a smooth colour field, an ellipse, a few blobs and sensor-like
noise), written with zlib level 1 as cv2.imwrite writes PNGs: about 160 kB each, like FF++ c23 face crops of that size.
The tree has the layout the FF++ index builder reads (resproto/data/index.py, `ffpp_index`; the same as the tests'
`make_ffpp_splits`): per split pair (a, b) the reals `a`, `b` and, per method, the fakes `a_b`, `b_a` (1 real : 4 fakes
with the four default methods), and `splits/<split>.json` listing the pairs. Files are written by a multiprocessing pool.

  python bench/synth_data.py /tmp/ffpp --train 20000 --val 400 --test 4000     # FF++ tree under /tmp/ffpp/FaceForensics++
"""
import argparse, io, json, math, os, sys, time
from multiprocessing import Pool
from pathlib import Path

METHODS = ('Deepfakes', 'Face2Face', 'FaceSwap', 'NeuralTextures')
DONE = '.synth_done.json'
_NOISE = None

def _noise():
    global _NOISE
    if _NOISE is None:  # one noise tile per process, cut at random offsets (drawing fresh noise costs more than the PNG)
        import numpy as np
        r = np.random.default_rng(12345)
        _NOISE = (r.normal(0, 4, (640, 640, 1)) + r.normal(0, 2, (640, 640, 3))).astype(np.int16)
    return _NOISE

def face_image(seed: int, size_range=(256, 320)):
    "A synthetic RGB face crop (PIL image) of a random size in `size_range`, reproducible from `seed`."
    import numpy as np
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(seed)
    size = int(rng.integers(size_range[0], size_range[1] + 1))
    base = Image.fromarray(rng.integers(40, 220, (5, 5, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
    draw, m = ImageDraw.Draw(base), size // 6
    draw.ellipse((m, m // 2, size - m, size - m // 2), fill=tuple(int(v) for v in rng.integers(120, 230, 3)))
    for _ in range(3):
        x, y = rng.integers(m, size - m, 2); r = int(rng.integers(6, 20))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(0, 120, 3)))
    noise = _noise()
    oy, ox = rng.integers(0, noise.shape[0] - size, 2)
    a = np.asarray(base).astype(np.int16) + noise[oy:oy + size, ox:ox + size]
    return Image.fromarray(a.clip(0, 255).astype(np.uint8))

def _write_png(job):
    path, seed, lo, hi = job
    buffer = io.BytesIO()
    face_image(seed, (lo, hi)).save(buffer, format='PNG', compress_level=1)
    Path(path).write_bytes(buffer.getvalue())
    return len(buffer.getvalue())

def plan_split(n_frames: int, frames_per_video: int, first_id: int):
    "FF++ pairs holding about `n_frames` frames (10 videos per pair: 2 reals, 2 fakes of each of 4 methods), ids from `first_id`."
    frames_per_video = max(1, min(frames_per_video, math.ceil(n_frames / 10)))
    n_pairs = max(1, math.ceil(n_frames / (10 * frames_per_video)))
    pairs = [(f'{first_id + 2 * i:03d}', f'{first_id + 2 * i + 1:03d}') for i in range(n_pairs)]
    return pairs, frames_per_video

def write_ffpp(data_root, train=20000, val=400, test=4000, frames_per_video=32, size_range=(256, 320), workers=None,
               compression='c23', log=print) -> Path:
    "Write (or reuse, when one with the same settings is complete) a synthetic FF++ tree at `data_root`/FaceForensics++."
    root = Path(data_root)/'FaceForensics++'
    settings = dict(train=train, val=val, test=test, frames_per_video=frames_per_video, size_range=list(size_range), compression=compression)
    done = root/DONE
    if done.is_file() and json.loads(done.read_text()).get('settings') == settings:
        log(f'synthetic FF++ tree {root}: reusing ({json.loads(done.read_text())["files"]} files)')
        return root
    (root/'splits').mkdir(parents=True, exist_ok=True)
    jobs, next_id, seed = [], 0, 0
    for split, n in (('train', train), ('val', val), ('test', test)):
        pairs, fpv = plan_split(n, frames_per_video, next_id)
        next_id += 2 * len(pairs)
        (root/'splits'/f'{split}.json').write_text(json.dumps([list(p) for p in pairs]))
        folders = [root/'original_sequences/youtube'/compression/'frames'/i for p in pairs for i in p]
        folders += [root/'manipulated_sequences'/m/compression/'frames'/v for m in METHODS for a, b in pairs for v in (f'{a}_{b}', f'{b}_{a}')]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            for f in range(fpv):
                jobs.append((str(folder/f'{f:03d}.png'), seed, *size_range)); seed += 1
    t = time.time()
    workers = workers or len(os.sched_getaffinity(0))
    with Pool(workers) as pool: total = sum(pool.imap_unordered(_write_png, jobs, chunksize=64))
    done.write_text(json.dumps(dict(settings=settings, files=len(jobs), bytes=total)))
    log(f'synthetic FF++ tree {root}: wrote {len(jobs)} PNG frames ({total / 1e9:.2f} GB, {total / len(jobs) / 1e3:.0f} kB each) '
        f'with {workers} processes in {time.time() - t:.1f} s')
    return root

def _write_video(job):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from resproto.testing import write_video  # the project's own PyAV writer for tests (libx264, yuv420p)
    import numpy as np
    path, seed, frames, size = job
    face = np.asarray(face_image(seed, (size, size)))
    rng = np.random.default_rng(seed)
    clip = [np.roll(face, tuple(int(v) for v in rng.integers(-4, 5, 2)), axis=(0, 1)) for _ in range(frames)]  # a jittering face
    write_video(path, clip, fps=25)
    return os.path.getsize(path)

def write_videos(folder, n=24, frames=96, size=320, workers=None, log=print) -> Path:
    "Write (or reuse) `n` face-crop videos of `frames` frames (`size` px, H.264) into `folder`."
    folder = Path(folder)
    settings = dict(n=n, frames=frames, size=size)
    done = folder/DONE
    if done.is_file() and json.loads(done.read_text()).get('settings') == settings:
        log(f'synthetic videos {folder}: reusing'); return folder
    folder.mkdir(parents=True, exist_ok=True)
    t = time.time()
    with Pool(workers or min(n, len(os.sched_getaffinity(0)))) as pool:
        total = sum(pool.map(_write_video, [(str(folder/f'video{i:03d}.mp4'), 10_000_000 + i, frames, size) for i in range(n)]))
    done.write_text(json.dumps(dict(settings=settings, bytes=total)))
    log(f'synthetic videos {folder}: wrote {n} videos x {frames} frames ({size} px, {total / 1e6:.1f} MB) in {time.time() - t:.1f} s')
    return folder

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data_root'); p.add_argument('--train', type=int, default=20000); p.add_argument('--val', type=int, default=400)
    p.add_argument('--test', type=int, default=4000); p.add_argument('--frames_per_video', type=int, default=32)
    p.add_argument('--workers', type=int)
    args = p.parse_args()
    write_ffpp(args.data_root, args.train, args.val, args.test, args.frames_per_video, workers=args.workers)

if __name__ == '__main__': main()
