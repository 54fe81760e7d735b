#!/usr/bin/python3
"""Camera-sized JPEGs for `vireo-bench pipeline`: GroceryStore photos
(~348x348) enlarged 4-8x (1.9-10 MP), with mild noise so the files carry
sensor-like high frequencies rather than the smooth gradients an enlargement
alone gives, saved twice: baseline (4:2:0, quality 90, like a phone camera's
default) and progressive (same, progressive + optimized Huffman tables).

usage: make_camera_set.py OUT_DIR SHARED_DIR [COUNT]
writes OUT_DIR/baseline/*.jpg, OUT_DIR/progressive/*.jpg and OUT_DIR/SOURCE
(where the pictures came from). Needs Debian's python3-pil and python3-numpy
(/usr/bin/python3). Deterministic: the same photos, factors and noise every
time.
"""
import os
import sys

import numpy as np
from PIL import Image


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, shared = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 24
    root = os.path.join(shared, "data", "grocery")
    with open(os.path.join(root, "train.txt")) as f:
        photos = [line.split(",")[0].strip() for line in f if line.strip()]
    step = max(1, len(photos) // count)
    picked = photos[::step][:count]
    tmp = out + ".tmp"
    for sub in ("baseline", "progressive"):
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
    rng = np.random.default_rng(20240611)
    total_mp = 0.0
    for i, rel in enumerate(picked):
        factor = 4 + i % 5  # 4, 5, 6, 7, 8
        img = Image.open(os.path.join(root, rel)).convert("RGB")
        big = img.resize((img.width * factor, img.height * factor), Image.BICUBIC)
        a = np.asarray(big, dtype=np.int16)
        a = a + rng.normal(0.0, 5.0, a.shape).round().astype(np.int16)
        big = Image.fromarray(a.clip(0, 255).astype(np.uint8))
        total_mp += big.width * big.height / 1e6
        name = "cam%03d_%dx%d.jpg" % (i, big.width, big.height)
        big.save(os.path.join(tmp, "baseline", name), quality=90, subsampling=2)
        big.save(os.path.join(tmp, "progressive", name), quality=90, subsampling=2,
                 progressive=True, optimize=True)
    with open(os.path.join(tmp, "SOURCE"), "w") as f:
        f.write("%d GroceryStore train photos enlarged 4-8x (bicubic) + Gaussian noise "
                "sigma 5, JPEG quality 90 4:2:0, baseline and progressive; "
                "mean %.1f MP; made by bench/make_camera_set.py\n"
                % (len(picked), total_mp / max(1, len(picked))))
    if os.path.exists(out):
        import shutil
        shutil.rmtree(out)
    os.rename(tmp, out)


if __name__ == "__main__":
    main()
