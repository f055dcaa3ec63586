"""Regenerate the golden cases in tests/golden/ from torchvision and numpy.

What it does
    Writes one folder per case, with exactly the files that tests/golden/README.md lists:
    input.safetensors, params.json, and either expected_rgb.safetensors + expected.png (image
    cases) or expected_frames.safetensors (sequence cases).

    Inputs are float32 tensors drawn from numpy's default generator, one fresh generator per
    tensor: ``np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(np.float32)``
    (the draw is float64, rounded once to float32), with seeds 1..26 handed out in case order
    (see CASES). Exceptions:
      - tv_scale_each: image i (0..3) is its own draw, seed 9 + i, uniform(-i, i + 1), so every
        image has a different range.
      - boundaries_*: q = integers(-3, 259) + choice([.5, .5, .5, 0, .25, .75]) from one
        generator, i.e. byte values on (.5), near (.25, .75) and off (.0) rounding boundaries,
        then mapped back to the input space in float32 (``f32(q) / 255`` or
        ``(f32(q) - mean) / std``). In the unit case the value on the lowest boundary (q = 0.5)
        is moved to its float32 predecessor: x * 255 = 0.49999997, whose float32 ``+ 0.5``
        rounds up to 1.0, so only op-by-op float32 arithmetic gives torchvision's byte 1.
      - special_values: uniform(-1, 1) with NaN, +-Inf and +-1e30 written at fixed places.

    Expected bytes: cases with a ``torchvision`` entry in params.json are rendered by
    ``torchvision.utils.make_grid`` followed by save_image's own quantization
    (``grid.mul(255).add_(0.5).clamp_(0, 255)`` then ``to(torch.uint8)``), and their PNG is
    checked to equal ``torchvision.utils.save_image``'s output byte for byte. Every case is
    also rendered by a small numpy float32 reference of README.md's rules (map op by op, no
    fused multiply-add; round_half_up or MMagic's ``astype(np.uint8)`` truncation; BGR->RGB;
    grey replicated; several keys stacked each on new rows with empty cells = pad_byte; one
    single cell returned bare); for the torchvision cases both must agree. expected.png is
    PIL's default PNG encoding (what save_image writes).

How to run (by hand; CI does not run this script, it only reads the committed files)
    ~/.cache/vis-peer/bin/python tests/golden/make.py [--out DIR]
        writes every case folder into DIR (default: tests/golden/, next to this file);
        README.md is not touched.
    ~/.cache/vis-peer/bin/python tests/golden/make.py --check DIR
        regenerates into a temporary folder and compares every file with DIR byte for byte,
        printing match/mismatch per case; exits 1 on any mismatch.
    The peer venv is set up once, outside the repository:
        python3 -m venv ~/.cache/vis-peer
        ~/.cache/vis-peer/bin/pip install torch torchvision numpy safetensors pillow

Versions it was run with (and that the committed files record in params.json produced_with)
    Python 3.11.7, torch 2.15.0+cu132, torchvision 0.29.2+cu132, numpy 2.4.6,
    safetensors 0.8.0, pillow 13.0.0 (x86-64, CPU). With these, --check against the committed
    cases reports every case byte-identical. Other versions may change produced_with and
    possibly the PNG encoding (zlib) but not the pixel bytes.
"""

import argparse
import io
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import torchvision
from PIL import Image
from safetensors.numpy import save as st_save
from torchvision.utils import make_grid, save_image

F32 = np.float32
MM_GAN = {"kind": "denorm", "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5]}
MM_GAN_1 = {"kind": "denorm", "mean": [127.5], "std": [127.5]}
IMAGENET = {"kind": "denorm", "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}
UNIT = {"kind": "unit"}


# ----------------------------------------------------------------------------- inputs

def uniform(seed, shape, lo, hi):
    """One fresh generator per tensor; float64 draw rounded once to float32."""
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(F32)


def scale_each_input(first_seed, n, image_shape):
    """Image i has range [-i, i + 1): per-image min/max differ (tests scale_each)."""
    return np.stack([uniform(first_seed + i, image_shape, -i, i + 1) for i in range(n)])


def boundary_bytes(seed, shape):
    """Byte-space values on (.5), next to (.25, .75) and off (.0) rounding boundaries."""
    rng = np.random.default_rng(seed)
    k = rng.integers(-3, 259, size=shape)
    frac = rng.choice(np.array([0.5, 0.5, 0.5, 0.0, 0.25, 0.75]), size=shape)
    return (k + frac).astype(F32)  # exact: quarter steps in [-3, 259)


def boundaries_unit(seed, shape):
    q = boundary_bytes(seed, shape)
    x = q / F32(255)  # float32 division
    # The lowest .5 boundary, 0.5 / 255, becomes its float32 predecessor: x * 255 is then
    # 0.49999997 and float32 0.49999997 + 0.5 rounds (ties to even) up to 1.0: byte 1, not 0.
    on_lowest = q == F32(0.5)
    x[on_lowest] = np.nextafter(x[on_lowest], F32(0))
    return x


def boundaries_denorm(seed, shape, mean, std):
    q = boundary_bytes(seed, shape)
    m = np.array(mean, dtype=F32).reshape(1, -1, 1, 1)
    s = np.array(std, dtype=F32).reshape(1, -1, 1, 1)
    return (q - m) / s  # float32, op by op


def special_values(seed, shape):
    x = uniform(seed, shape, -1.0, 1.0)
    x[0, 0, 0, 0] = np.nan
    x[0, 0, 0, 1] = np.inf
    x[0, 0, 0, 2] = -np.inf
    x[1, 1, 2, 2] = np.nan
    x[2, 2, 5, 5] = np.inf
    x[3, 0, 1, 1] = 1e30
    x[3, 0, 1, 2] = -1e30
    return x


# ----------------------------------------------------------------------------- cases
# Seeds 1..26 in this order; one per tensor (tv_scale_each takes 9..12, one per image).

def case(name, tensors, *, nrow, map, quantize="round_half_up", order="rgb", padding=2,
         pad_byte=0, note="", torchvision=None, sequence=None):
    return dict(name=name, tensors=tensors, nrow=nrow, map=map, quantize=quantize, order=order,
                padding=padding, pad_byte=pad_byte, note=note, torchvision=torchvision,
                sequence=sequence)


def tv(**kw):
    d = {"normalize": False, "pad_value": 0.0}
    d.update(kw)
    return d


def rng_map(lo=None, hi=None, scale_each=False):
    return {"kind": "range", "lo": lo, "hi": hi, "scale_each": scale_each}


CASES = [
    case("tv_unit_basic", {"samples": lambda: uniform(1, (6, 3, 16, 16), -0.1, 1.1)},
         nrow=3, map=UNIT, note="make_grid + save_image, full rows", torchvision=tv()),
    case("tv_unit_partial_row_nonsquare", {"samples": lambda: uniform(2, (7, 3, 12, 20), 0.0, 1.0)},
         nrow=3, map=UNIT, note="last row partly empty; H != W", torchvision=tv()),
    case("tv_single_image", {"samples": lambda: uniform(3, (1, 3, 9, 11), 0.0, 1.0)},
         nrow=8, map=UNIT, note="one image: columns = min(nrow, N)", torchvision=tv()),
    case("tv_nrow_greater_than_n", {"samples": lambda: uniform(4, (3, 3, 8, 8), 0.0, 1.0)},
         nrow=8, map=UNIT, note="nrow > N: grid is N wide", torchvision=tv()),
    case("tv_padding_0", {"samples": lambda: uniform(5, (4, 3, 8, 8), 0.0, 1.0)},
         nrow=2, map=UNIT, padding=0, torchvision=tv()),
    case("tv_padding_5_pad_half", {"samples": lambda: uniform(6, (5, 3, 8, 6), 0.0, 1.0)},
         nrow=2, map=UNIT, padding=5, pad_byte=128,
         note="pad_value 0.5 in [0,1] space is byte 128", torchvision=tv(pad_value=0.5)),
    case("tv_normalize_auto_range", {"samples": lambda: uniform(7, (4, 3, 10, 10), -3.0, 5.0)},
         nrow=2, map=rng_map(), note="lo/hi = min/max of the whole batch",
         torchvision=tv(normalize=True)),
    case("tv_normalize_value_range", {"samples": lambda: uniform(8, (4, 3, 10, 10), -1.3, 1.3)},
         nrow=4, map=rng_map(-1.0, 1.0),
         torchvision=tv(normalize=True, value_range=[-1.0, 1.0])),
    case("tv_scale_each", {"samples": lambda: scale_each_input(9, 4, (3, 8, 8))},
         nrow=2, map=rng_map(scale_each=True), note="lo/hi per image",
         torchvision=tv(normalize=True, scale_each=True)),
    case("tv_gray", {"samples": lambda: uniform(13, (5, 1, 8, 8), 0.0, 1.0)},
         nrow=3, map=UNIT, note="1 channel replicated to 3", torchvision=tv()),
    case("mm_gan_bgr_truncate", {"fake_img": lambda: uniform(14, (9, 3, 16, 16), -1.2, 1.2)},
         nrow=None, map=MM_GAN, quantize="truncate", order="bgr",
         note="MMagic GAN path: x*127.5+127.5, clamp, BGR->RGB, astype(uint8); nrow=ceil(sqrt(9))=3"),
    case("mm_imagenet_bgr_truncate_empty_cell",
         {"img": lambda: uniform(15, (8, 3, 12, 12), -2.5, 2.5)},
         nrow=None, map=IMAGENET, quantize="truncate", order="bgr",
         note="per-channel mean/std apply to input channel c; 8 images, nrow 3: one empty cell = pad_byte"),
    case("mm_two_keys_fake_and_gt",
         {"fake_b": lambda: uniform(16, (5, 3, 8, 8), -1.0, 1.0),
          "gt_b": lambda: uniform(17, (5, 3, 8, 8), -1.0, 1.0)},
         nrow=3, map=MM_GAN, quantize="truncate", order="bgr",
         note="keys stacked along the batch, each key padded to whole rows: 2 rows fake, 2 rows gt"),
    case("mm_gray_denorm_round", {"img": lambda: uniform(18, (4, 1, 10, 6), -1.1, 1.1)},
         nrow=2, map=MM_GAN_1, order="bgr"),
    case("denorm_round_rgb", {"samples": lambda: uniform(19, (6, 3, 8, 8), -1.5, 1.5)},
         nrow=3, map=MM_GAN),
    case("boundaries_unit_round", {"samples": lambda: boundaries_unit(20, (4, 3, 8, 8))},
         nrow=2, map=UNIT, note="values on and next to .5 rounding boundaries", torchvision=tv()),
    case("boundaries_denorm_truncate",
         {"samples": lambda: boundaries_denorm(21, (4, 3, 8, 8), IMAGENET["mean"], IMAGENET["std"])},
         nrow=2, map=IMAGENET, quantize="truncate"),
    case("special_values", {"samples": lambda: special_values(22, (4, 3, 6, 6))},
         nrow=2, map=MM_GAN, note="NaN -> 0, +Inf -> 255, -Inf -> 0, huge values clamp"),
    case("seq_gif_basic", {"samples": lambda: uniform(23, (4, 5, 3, 8, 8), -1.0, 1.0)},
         nrow=2, map=MM_GAN, order="bgr", sequence={"fps": 10, "n_skip": 2},
         note="T=5, n_skip=2: frames 0,2,4 (last already included)"),
    case("seq_gif_append_last", {"samples": lambda: uniform(24, (3, 7, 3, 6, 6), -1.0, 1.0)},
         nrow=None, map=MM_GAN, sequence={"fps": 25, "n_skip": 3},
         note="T=7, n_skip=3: frames 0,3,6 (last already included)"),
    case("seq_gif_last_frame_added", {"samples": lambda: uniform(25, (2, 6, 1, 6, 6), -1.0, 1.0)},
         nrow=2, map=MM_GAN_1, sequence={"fps": 60, "n_skip": 4},
         note="T=6, n_skip=4: frames 0,4 plus last frame 5"),
    case("dcgan_16x3x32x32", {"fake_img": lambda: uniform(26, (16, 3, 32, 32), -1.05, 1.05)},
         nrow=4, map=MM_GAN, order="bgr"),
]


# ----------------------------------------------------------------------------- reference

def map_values(x, m):
    """README `map`, float32 op by op (numpy does not fuse multiply-add)."""
    kind = m["kind"]
    if kind == "unit":
        return x * F32(255)
    if kind == "identity":
        return x.copy()
    if kind == "denorm":
        c = x.shape[1]
        mean = np.array(m["mean"] if len(m["mean"]) > 1 else m["mean"] * c, dtype=F32)
        std = np.array(m["std"] if len(m["std"]) > 1 else m["std"] * c, dtype=F32)
        return x * std.reshape(1, c, 1, 1) + mean.reshape(1, c, 1, 1)
    if kind == "range":
        def one(t):
            lo = float(t.min()) if m["lo"] is None else m["lo"]
            hi = float(t.max()) if m["hi"] is None else m["hi"]
            d = F32(max(hi - lo, 1e-5))  # float64 from lo/hi as given, rounded once
            t = np.clip(t, F32(lo), F32(hi))
            return (t - F32(lo)) / d * F32(255)
        if m["scale_each"]:
            return np.stack([one(t) for t in x])
        return one(x)
    raise ValueError(kind)


def quantize(v, how):
    if how == "round_half_up":
        v = v + F32(0.5)
    elif how != "truncate":
        raise ValueError(how)
    out = np.trunc(np.clip(v, F32(0), F32(255)))
    out[np.isnan(out)] = 0
    return out.astype(np.uint8)


def to_rgb_cells(x, c):
    """[N, C, H, W] float32 -> [N, H, W, 3] uint8 in RGB."""
    b = quantize(map_values(x, c["map"]), c["quantize"])
    if b.shape[1] == 1:
        b = np.repeat(b, 3, axis=1)
    elif c["order"] == "bgr":
        b = b[:, ::-1]
    return np.ascontiguousarray(b.transpose(0, 2, 3, 1))


def resolved_nrow(c, n):
    return c["nrow"] if c["nrow"] is not None else int(math.ceil(math.sqrt(n)))


def reference_grid(keys, c):
    """keys: list of [N, C, H, W] float32 arrays, in drawing order -> [H, W, 3] uint8."""
    n, h, w = keys[0].shape[0], keys[0].shape[2], keys[0].shape[3]
    cells = [to_rgb_cells(k, c) for k in keys]
    if len(keys) == 1 and n == 1:
        return cells[0][0]
    cols = min(resolved_nrow(c, n), n)
    per_key_rows = int(math.ceil(n / cols))
    rows = per_key_rows if len(keys) == 1 else per_key_rows * len(keys)
    p = c["padding"]
    out = np.full((rows * (h + p) + p, cols * (w + p) + p, 3), c["pad_byte"], dtype=np.uint8)
    for ki, kc in enumerate(cells):
        for i in range(n):
            r, col = ki * per_key_rows + i // cols, i % cols
            y, xx = r * (h + p) + p, col * (w + p) + p
            out[y:y + h, xx:xx + w] = kc[i]
    return out


def torchvision_grid(x, c):
    """make_grid + save_image's quantization; also returns save_image's PNG bytes."""
    t = c["torchvision"]
    kw = dict(nrow=c["nrow"], padding=c["padding"], normalize=t["normalize"],
              pad_value=t["pad_value"], scale_each=t.get("scale_each", False))
    if "value_range" in t:
        kw["value_range"] = tuple(t["value_range"])
    tensor = torch.from_numpy(x.copy())
    grid = make_grid(tensor, **kw)
    ndarr = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", torch.uint8).numpy()
    buf = io.BytesIO()
    save_image(tensor, buf, format="png", **kw)
    return np.ascontiguousarray(ndarr), buf.getvalue()


def frame_indices(t, n_skip):
    idx = list(range(0, t, n_skip))
    if idx[-1] != t - 1:
        idx.append(t - 1)
    return idx


def png_bytes(rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------- writing

def build(c):
    """Returns {filename: bytes} for one case."""
    inputs = {name: np.ascontiguousarray(make(), dtype=F32) for name, make in c["tensors"].items()}
    keys = list(inputs.values())
    first = keys[0]
    files = {"input.safetensors": st_save(inputs)}
    params = {
        "name": c["name"],
        "tensors": list(inputs),
        "nrow": c["nrow"],
        "resolved_nrow": resolved_nrow(c, first.shape[0]),
        "padding": c["padding"],
        "pad_byte": c["pad_byte"],
        "map": c["map"],
        "quantize": c["quantize"],
        "order": c["order"],
        "sequence": c["sequence"],
        "note": c["note"],
        "produced_with": "torch %s, torchvision %s, numpy %s"
                         % (torch.__version__, torchvision.__version__, np.__version__),
    }
    if c["torchvision"] is not None:
        params["torchvision"] = c["torchvision"]
    if c["sequence"] is None:
        rgb = reference_grid(keys, c)
        png = png_bytes(rgb)
        if c["torchvision"] is not None:
            assert len(keys) == 1 and c["order"] == "rgb" and c["pad_byte"] == round(
                c["torchvision"]["pad_value"] * 255)
            tv_rgb, tv_png = torchvision_grid(first, c)
            if not np.array_equal(tv_rgb, rgb):
                raise AssertionError("%s: numpy reference differs from torchvision" % c["name"])
            if tv_png != png:
                raise AssertionError("%s: PNG differs from save_image's" % c["name"])
            rgb = tv_rgb
        params["expected_shape"] = list(rgb.shape)
        files["expected_rgb.safetensors"] = st_save({"rgb": rgb})
        files["expected.png"] = png
    else:
        idx = frame_indices(first.shape[1], c["sequence"]["n_skip"])
        frames = np.stack([reference_grid([k[:, t] for k in keys], c) for t in idx])
        params["expected_frame_indices"] = idx
        params["expected_shape"] = list(frames.shape)
        files["expected_frames.safetensors"] = st_save({"frames": frames})
    files["params.json"] = (json.dumps(params, indent=2, sort_keys=True) + "\n").encode()
    return files


def write_all(out):
    for c in CASES:
        d = os.path.join(out, c["name"])
        os.makedirs(d, exist_ok=True)
        for fname, data in build(c).items():
            path = os.path.join(d, fname)
            if os.path.exists(path):
                os.chmod(path, 0o644)
            with open(path, "wb") as f:
                f.write(data)


def check(against):
    tmp = tempfile.mkdtemp(prefix="vis-golden-")
    try:
        write_all(tmp)
        bad = 0
        want = {c["name"] for c in CASES}
        have = {e for e in os.listdir(against) if os.path.isdir(os.path.join(against, e))}
        for name in sorted(want | have):
            if name not in have:
                print("MISMATCH %s: missing in %s" % (name, against))
                bad += 1
                continue
            if name not in want:
                print("MISMATCH %s: in DIR only, not produced by make.py" % name)
                bad += 1
                continue
            new_dir, old_dir = os.path.join(tmp, name), os.path.join(against, name)
            new_files, old_files = set(os.listdir(new_dir)), set(os.listdir(old_dir))
            problems = []
            for f in sorted(new_files | old_files):
                if f not in old_files:
                    problems.append("%s missing in DIR" % f)
                elif f not in new_files:
                    problems.append("%s in DIR only" % f)
                else:
                    with open(os.path.join(new_dir, f), "rb") as a, open(os.path.join(old_dir, f), "rb") as b:
                        if a.read() != b.read():
                            problems.append("%s differs" % f)
            if problems:
                bad += 1
                print("MISMATCH %s: %s" % (name, ", ".join(problems)))
            else:
                print("match    %s (%s)" % (name, ", ".join(sorted(new_files))))
        print("%d of %d cases byte-identical" % (len(want | have) - bad, len(want | have)))
        return 1 if bad else 0
    finally:
        shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=here, help="folder to write the case folders into")
    ap.add_argument("--check", metavar="DIR", help="regenerate and compare with DIR byte for byte")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.check:
        sys.exit(check(a.check))
    write_all(a.out)
    print("wrote %d cases to %s" % (len(CASES), a.out))


if __name__ == "__main__":
    main()
