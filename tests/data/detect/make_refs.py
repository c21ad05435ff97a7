# Run from the repository root: /usr/bin/python3 tests/data/detect/make_refs.py
# Generates tests/data/detect/ resize references with Pillow 9.4 (Debian python3-pil).
import numpy as np
from PIL import Image
rng = np.random.default_rng(7)
w, h = 97, 61
yy, xx = np.mgrid[0:h, 0:w]
a = np.zeros((h, w, 3), np.uint8)
a[..., 0] = (xx * 255 // (w - 1)).astype(np.uint8)
a[..., 1] = (yy * 255 // (h - 1)).astype(np.uint8)
a[..., 2] = ((xx * 7 + yy * 13) % 256).astype(np.uint8)
a[h // 3: 2 * h // 3] = rng.integers(0, 256, (2 * h // 3 - h // 3, w, 3), dtype=np.uint8)
a[5:12, 60:90] = (255, 0, 0); a[40:58, 3:9] = 0; a[50:55, 70:95] = 255
im = Image.fromarray(a, 'RGB'); im.save('tests/data/detect/resize_src_97x61.png')
for ow, oh in [(211, 133), (40, 25), (97, 30)]:
    im.resize((ow, oh), Image.BILINEAR).save(f'tests/data/detect/resize_pillow_{ow}x{oh}.png')
# effdet letterbox to a 64x48 (w x h) canvas, ImageNet mean/std, float32 NHWC
H, W = 48, 64
mean = [0.485, 0.456, 0.406]; std = [0.229, 0.224, 0.225]
scale = min(H / h, W / w); sh, sw = int(h * scale), int(w * scale)
canvas = Image.new('RGB', (W, H), tuple(int(round(255 * m)) for m in mean))
canvas.paste(im.resize((sw, sh), Image.BILINEAR))
x = np.asarray(canvas).astype(np.float32)
m = np.array([v * 255 for v in mean], np.float32); s = np.array([v * 255 for v in std], np.float32)
x = (x - m) / s
x.astype('<f4').tofile('tests/data/detect/letterbox_64x48_imagenet.f32')
print(sw, sh, scale)
