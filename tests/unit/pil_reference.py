#!/usr/bin/python3
"""Reference outputs for tests/unit/test_resize.c and test_image.c, made with
Debian's Pillow (python3-pil) and torchvision: the independent implementations
vireo's image decoding and resizing must match. Run by the tests (never
committed output): reads a job list, writes one raw file per job.

Job lines (whitespace separated; paths without spaces):
  decode   OUT SRC                 OUT = Image.open(SRC).convert("RGB") pixels
  resize   OUT SRC FILTER W H      OUT = that image .resize((W, H), FILTER)
  box      OUT SRC FILTER W H X0 Y0 X1 Y1   ... with box=(X0, Y0, X1, Y1)
  tv       OUT SRC FILTER S CW CH  torchvision Resize(S, FILTER) + CenterCrop((CH, CW))
  png      OUT RAW W H MODE        RAW (W×H RGB8) converted to MODE, saved as PNG
SRC is an image file, or raw:PATH:W:H for W×H RGB8 bytes. FILTER is bilinear
or bicubic. Outputs are raw RGB8, rows top to bottom (png: the PNG file).
Prints "ok N" at the end; exit status 2 when Pillow or numpy is missing."""
import sys

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # the test skips
    print("missing:", e)
    sys.exit(2)

FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def load(src):
    if src.startswith("raw:"):
        _, path, w, h = src.rsplit(":", 3)
        with open(path, "rb") as f:
            return Image.frombytes("RGB", (int(w), int(h)), f.read())
    return Image.open(src).convert("RGB")


def torchvision_resize_crop(im, filt, s, cw, ch):
    try:
        from torchvision import transforms
        from torchvision.transforms import InterpolationMode
        mode = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}[filt]
        t = transforms.Compose([transforms.Resize(s, interpolation=mode),
                                transforms.CenterCrop((ch, cw))])
        return t(im)
    except ImportError:
        # The same steps as torchvision 0.14 (functional.resize / center_crop).
        w, h = im.size
        short, long_ = (w, h) if w <= h else (h, w)
        new_long = int(s * long_ / short)
        nw, nh = (s, new_long) if w <= h else (new_long, s)
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), FILTERS[filt])
        top = int(round((nh - ch) / 2.0))
        left = int(round((nw - cw) / 2.0))
        return im.crop((left, top, left + cw, top + ch))


def main():
    jobs = open(sys.argv[1]).read().split("\n")
    n = 0
    for line in jobs:
        f = line.split()
        if not f:
            continue
        op, out = f[0], f[1]
        if op == "png":
            raw, w, h, mode = f[2], int(f[3]), int(f[4]), f[5]
            im = load("raw:%s:%d:%d" % (raw, w, h))
            if mode == "I;16":  # 16-bit grey: spread the 8-bit values over 16 bits
                a = np.asarray(im.convert("L"), dtype=np.uint16) * 257
                im = Image.fromarray(a, mode="I;16")
            elif mode == "RGB16":  # Pillow cannot write 16-bit RGB: done by the test
                continue
            else:
                im = im.convert(mode)
            im.save(out, format="PNG")
            n += 1
            continue
        im = load(f[2])
        if op == "decode":
            res = im
        elif op == "resize":
            res = im.resize((int(f[4]), int(f[5])), FILTERS[f[3]])
        elif op == "box":
            box = tuple(float(v) for v in f[6:10])
            res = im.resize((int(f[4]), int(f[5])), FILTERS[f[3]], box=box)
        elif op == "tv":
            res = torchvision_resize_crop(im, f[3], int(f[4]), int(f[5]), int(f[6]))
        else:
            raise SystemExit("unknown job " + op)
        with open(out, "wb") as o:
            o.write(np.asarray(res.convert("RGB"), dtype=np.uint8).tobytes())
        n += 1
    print("ok", n)


if __name__ == "__main__":
    main()
