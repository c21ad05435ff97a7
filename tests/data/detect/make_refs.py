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

# Small files in other formats for tests/io/image_test.cpp (known pixel values).
px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [10, 20, 30]],
               [[0, 0, 0], [128, 64, 32], [1, 2, 3], [200, 100, 50], [9, 99, 199]],
               [[60, 70, 80], [90, 100, 110], [120, 130, 140], [150, 160, 170], [180, 190, 200]],
               [[7, 7, 7], [77, 77, 77], [177, 177, 177], [250, 5, 125], [33, 66, 99]]], np.uint8)
base = Image.fromarray(px, 'RGB')  # 5 x 4
base.save('tests/data/detect/px_5x4.png')
base.save('tests/data/detect/px_5x4.bmp')
base.save('tests/data/detect/px_5x4.tga')
base.save('tests/data/detect/px_5x4.ppm')
grey = Image.fromarray(px[..., 1].copy(), 'L'); grey.save('tests/data/detect/grey_5x4.png'); grey.save('tests/data/detect/grey_5x4.pgm')
rgba = np.concatenate([px, np.full((4, 5, 1), 17, np.uint8)], axis=2)
Image.fromarray(rgba, 'RGBA').save('tests/data/detect/rgba_5x4.png')
Image.fromarray((px[..., 0].astype(np.uint16) * 257), 'I;16').save('tests/data/detect/grey16_5x4.png')
# Palette GIF, 2 frames; the first frame is `px` (few enough colours for a palette).
f1 = base.quantize(colors=20, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
f2 = Image.fromarray(255 - px, 'RGB').quantize(colors=20, dither=Image.Dither.NONE)
f1.save('tests/data/detect/anim_5x4.gif', save_all=True, append_images=[f2], duration=100, loop=0)
np.asarray(f1.convert('RGB')).astype(np.uint8).tofile('tests/data/detect/anim_5x4_frame0.rgb')

# A small baseline JPEG (decoded by tests/io/image_test.cpp; truncated there on purpose).
g = np.zeros((48, 64, 3), np.uint8)
g[..., 0] = np.arange(64)[None, :] * 4
g[..., 1] = np.arange(48)[:, None] * 5
g[..., 2] = 90
Image.fromarray(g, 'RGB').save('tests/data/detect/gradient_64x48.jpg', quality=95)
