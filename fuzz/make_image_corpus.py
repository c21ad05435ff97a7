#!/usr/bin/python3
"""Writes the image test files: tests/data/images/ (read by tests/io/image_test.cpp) and the
same files as the seed corpus fuzz/corpus/fuzz_image/. Run once by hand; CI only uses the
committed files. Needs Pillow (Debian: python3-pil) for JPEG, GIF and TGA; PNG, BMP and
PNM are written here byte by byte so every depth, colour type and interlacing is covered.

Three pictures, 23x17 (not a multiple of 8 or 16, so partial JPEG MCUs, BMP row padding and
every Adam7 pass are exercised):
  rgb   - many colours; written losslessly as PNG (8/16 bit, alpha, interlaced), BMP 24/32,
          TGA 24/32 plain and RLE, PPM 8/16 bit, and lossily as JPEG (4:2:0, 4:4:4,
          progressive, CMYK with an Adobe marker). Reference: rgb_23x17.rgb; for each JPEG, Pillow's decode of it
          (<name>.pillow.rgb).
  grey  - PNG grey 8/16 and grey+alpha 8/16, PGM 8/16, TGA grey plain and RLE, JPEG grey.
          Reference: grey_23x17.gray (one byte a pixel).
  pal   - 7 colours: PNG palette 8/4-bit, BMP 8-bit and 4-bit palette, BMP RLE8 (which the
          decoder refuses: stb does not read RLE BMP), TGA colour-mapped plain and RLE, GIF
          (first frame of two; interlaced too). Reference: pal_23x17.rgb.
16-bit files hold v * 257, which decodes back to v exactly.
"""
import io
import os
import struct
import zlib

from PIL import Image

W, H = 23, 17
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT_DIRS = [os.path.join(ROOT, "tests", "data", "images"), os.path.join(ROOT, "fuzz", "corpus", "fuzz_image")]


def rgb_px(x, y):
    return ((x * 11 + y * 3) % 256, (y * 15 + (x // 4) * 40) % 256, (x * y * 5 + 60) % 256)


def grey_px(x, y):
    return (x * 9 + y * 7 + (40 if (x // 5 + y // 5) % 2 else 0)) % 256


PALETTE = [(0, 0, 0), (255, 255, 255), (200, 30, 40), (20, 180, 60), (30, 60, 220), (250, 220, 10), (128, 128, 128)]


def pal_idx(x, y):
    return ((x // 3) + (y // 4) * 2) % len(PALETTE)


def rows(fn):
    return [[fn(x, y) for x in range(W)] for y in range(H)]


RGB = rows(rgb_px)
GREY = rows(grey_px)
PAL = rows(pal_idx)
ALPHA = rows(lambda x, y: (x * 10 + y * 5) % 256)

files = {}


# ---- PNG, by hand ----------------------------------------------------------------------
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(samples, colour, depth, interlace=False, palette=None):
    """samples[y][x] is a tuple of channel values at `depth` bits."""
    def pack_row(row):
        if depth == 16:
            return b"".join(struct.pack(">" + "H" * len(px), *px) for px in row)
        if depth == 8:
            return bytes(v for px in row for v in px)
        bits, acc, n = [], 0, 0
        out = bytearray()
        for px in row:
            acc = (acc << depth) | px[0]
            n += depth
            if n == 8:
                out.append(acc)
                acc, n = 0, 0
        if n:
            out.append(acc << (8 - n))
        return bytes(out)

    raw = bytearray()
    if not interlace:
        for row in samples:
            raw += b"\0" + pack_row(row)
    else:
        for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
            for y in range(y0, H, dy):
                sub = [samples[y][x] for x in range(x0, W, dx)]
                if sub:
                    raw += b"\0" + pack_row(sub)
    ihdr = struct.pack(">IIBBBBB", W, H, depth, colour, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    if palette:
        out += png_chunk(b"PLTE", bytes(v for c in palette for v in c))
    out += png_chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + png_chunk(b"IEND", b"")
    return out


w16 = lambda v: v * 257
files["rgb_8.png"] = png([[px for px in r] for r in RGB], 2, 8)
files["rgb_8_interlaced.png"] = png([[px for px in r] for r in RGB], 2, 8, interlace=True)
files["rgb_16.png"] = png([[tuple(w16(v) for v in px) for px in r] for r in RGB], 2, 16)
files["rgba_8.png"] = png([[RGB[y][x] + (ALPHA[y][x],) for x in range(W)] for y in range(H)], 6, 8)
files["rgba_16_interlaced.png"] = png([[tuple(w16(v) for v in RGB[y][x] + (ALPHA[y][x],)) for x in range(W)] for y in range(H)], 6, 16, interlace=True)
files["grey_8.png"] = png([[(v,) for v in r] for r in GREY], 0, 8)
files["grey_16.png"] = png([[(w16(v),) for v in r] for r in GREY], 0, 16)
files["grey_alpha_8.png"] = png([[(GREY[y][x], ALPHA[y][x]) for x in range(W)] for y in range(H)], 4, 8)
files["grey_alpha_16.png"] = png([[(w16(GREY[y][x]), w16(ALPHA[y][x])) for x in range(W)] for y in range(H)], 4, 16)
files["grey_2bit.png"] = png([[(v >> 6,) for v in r] for r in GREY], 0, 2)  # decodes to (v>>6)*85
files["pal_8.png"] = png([[(i,) for i in r] for r in PAL], 3, 8, palette=PALETTE)
files["pal_4_interlaced.png"] = png([[(i,) for i in r] for r in PAL], 3, 4, interlace=True, palette=PALETTE)


# ---- BMP, by hand (bottom-up rows, BGR, rows padded to 4 bytes) ------------------------
def bmp(bpp, pixel_rows, palette=None, compression=0, data=None):
    """pixel_rows[y] are bytes of one row, top row first (written bottom-up)."""
    if data is None:
        data = b""
        for row in reversed(pixel_rows):
            data += row + b"\0" * ((-len(row)) % 4)
    pal = b"".join(bytes((b, g, r, 0)) for r, g, b in (palette or []))
    offset = 14 + 40 + len(pal)
    info = struct.pack("<IiiHHIIiiII", 40, W, H, 1, bpp, compression, len(data), 2835, 2835, len(palette or []), 0)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + info + pal + data


files["rgb_24.bmp"] = bmp(24, [bytes(v for px in r for v in (px[2], px[1], px[0])) for r in RGB])
files["rgb_32.bmp"] = bmp(32, [bytes(v for x, px in enumerate(r) for v in (px[2], px[1], px[0], 255)) for r in RGB])
files["pal_8.bmp"] = bmp(8, [bytes(r) for r in PAL], palette=PALETTE)
files["pal_4.bmp"] = bmp(4, [bytes((r[i] << 4 | (r[i + 1] if i + 1 < W else 0)) for i in range(0, W, 2)) for r in PAL], palette=PALETTE)
files["grey_8.bmp"] = bmp(8, [bytes(r) for r in GREY], palette=[(v, v, v) for v in range(256)])


def rle8(index_rows):
    out = bytearray()
    for row in reversed(index_rows):
        x = 0
        while x < W:
            run = 1
            while x + run < W and run < 255 and row[x + run] == row[x]:
                run += 1
            out += bytes((run, row[x]))
            x += run
        out += b"\0\0"  # end of line
    return bytes(out + b"\0\1")  # end of bitmap


files["pal_rle8.bmp"] = bmp(8, None, palette=PALETTE, compression=1, data=rle8(PAL))


# ---- PNM, by hand ----------------------------------------------------------------------
files["rgb_8.ppm"] = b"P6\n# edet test\n%d %d\n255\n" % (W, H) + bytes(v for r in RGB for px in r for v in px)
files["rgb_16.ppm"] = b"P6\n%d %d\n65535\n" % (W, H) + b"".join(struct.pack(">H", w16(v)) for r in RGB for px in r for v in px)
files["grey_8.pgm"] = b"P5 %d %d 255\n" % (W, H) + bytes(v for r in GREY for v in r)
files["grey_16.pgm"] = b"P5\n%d %d\n65535\n" % (W, H) + b"".join(struct.pack(">H", w16(v)) for r in GREY for v in r)


# ---- Pillow: JPEG, GIF, TGA ------------------------------------------------------------
def pil_image(mode, data):
    img = Image.new(mode, (W, H))
    img.putdata([px for r in data for px in r])
    return img


rgb_img = pil_image("RGB", RGB)
grey_img = pil_image("L", GREY)
pal_img = Image.new("P", (W, H))
pal_img.putpalette([v for c in PALETTE for v in c] + [0] * (768 - 3 * len(PALETTE)))
pal_img.putdata([i for r in PAL for i in r])
rgba_img = pil_image("RGBA", [[RGB[y][x] + (ALPHA[y][x],) for x in range(W)] for y in range(H)])


def saved(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


files["rgb_420.jpg"] = saved(rgb_img, "JPEG", quality=90, subsampling=2)
files["rgb_444.jpg"] = saved(rgb_img, "JPEG", quality=95, subsampling=0)
files["rgb_progressive.jpg"] = saved(rgb_img, "JPEG", quality=90, progressive=True)
files["grey.jpg"] = saved(grey_img, "JPEG", quality=95)
files["grey_progressive.jpg"] = saved(grey_img, "JPEG", quality=95, progressive=True)
files["rgb_cmyk.jpg"] = saved(rgb_img.convert("CMYK"), "JPEG", quality=95)
files["rgb_24.tga"] = saved(rgb_img, "TGA")
files["rgb_24_rle.tga"] = saved(rgb_img, "TGA", compression="tga_rle")
files["rgba_32.tga"] = saved(rgba_img, "TGA")
files["grey_8.tga"] = saved(grey_img, "TGA")
files["grey_8_rle.tga"] = saved(grey_img, "TGA", compression="tga_rle")
files["pal_8.tga"] = saved(pal_img, "TGA")
files["pal_8_rle.tga"] = saved(pal_img, "TGA", compression="tga_rle")
second = pal_img.copy()
second.putdata([(i + 1) % len(PALETTE) for r in PAL for i in r])
files["pal_anim.gif"] = saved(pal_img, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
files["pal_interlaced.gif"] = saved(pal_img, "GIF", interlace=True)

# References: what the lossless files must decode to, and Pillow's (libjpeg's) decode of
# each JPEG, which stb's decode must stay close to.
for name in [n for n in files if n.endswith(".jpg")]:
    files[name[:-4] + ".pillow.rgb"] = Image.open(io.BytesIO(files[name])).convert("RGB").tobytes()
files["rgb_23x17.rgb"] = bytes(v for r in RGB for px in r for v in px)
files["grey_23x17.gray"] = bytes(v for r in GREY for v in r)
files["pal_23x17.rgb"] = bytes(v for r in PAL for i in r for v in PALETTE[i])

for d in OUT_DIRS:
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        if d.endswith("fuzz_image") and name.endswith((".rgb", ".gray")):
            continue
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
print("%d files, %d bytes" % (len(files), sum(len(v) for v in files.values())))
