#!/usr/bin/env python3
"""A lower bound on tf_efficientdet_d0's float32 forward time at 512x512, stage by stage.

    bench/d0_floor.py [--peak GFLOPS] [--gemm-efficiency 0.95] [--swish-ns 1.68]

Counts, from the architecture (EfficientNet-B0 backbone, 3 BiFPN cells of 64 channels,
heads of 3 repeats over P3-P7), each stage's 1x1-conv (GEMM) multiply-adds, depthwise and
stem multiply-adds and swish evaluations, and prices them with unit costs measured on the
machine: the FMA peak of one thread (edet-bench prints it), the GEMM's efficiency on wide
layers (kernels_bench: 90-98% of that peak on D0's deep 1x1 convs) and one swish_batch of
16 lanes (1.68 ns = 6.0 cycles on the 2026-12-08 Zen 5). Depthwise convs are priced at the
full FMA rate and memory at nothing, so real code cannot reach the total: it is a floor.
The multiply-adds per stage equal edet-bench's stage table (2.49 GMAC in all).
"""
import argparse


def d0_counts():
    stages = {}

    def add(stage, gemm=0, dw=0, swish=0):
        s = stages.setdefault(stage, [0, 0, 0])
        s[0] += gemm
        s[1] += dw
        s[2] += swish

    add('stem', dw=256 * 256 * 32 * 27, swish=256 * 256 * 32)  # 3x3 s2, 3 -> 32
    add('blocks.0', dw=256 * 256 * 32 * 9, gemm=256 * 256 * 32 * 16, swish=256 * 256 * 32)
    # stage, repeats, kernel, first stride, in, out channels, input side; expand ratio 6
    for stage, repeats, k, s, cin, cout, h in [(1, 2, 3, 2, 16, 24, 256), (2, 2, 5, 2, 24, 40, 128),
                                                (3, 3, 3, 2, 40, 80, 64), (4, 3, 5, 1, 80, 112, 32),
                                                (5, 4, 5, 2, 112, 192, 32), (6, 1, 3, 1, 192, 320, 16)]:
        for i in range(repeats):
            stride = s if i == 0 else 1
            c = cin if i == 0 else cout
            mid, ho = 6 * c, h // stride
            add(f'blocks.{stage}', gemm=h * h * c * mid + ho * ho * mid * cout, dw=ho * ho * mid * k * k,
                swish=h * h * mid + ho * ho * mid)  # SE: negligible
            h = ho
    levels = [64 * 64, 32 * 32, 16 * 16, 8 * 8, 4 * 4]
    node_px = 64 + 256 + 1024 + 4096 + 1024 + 256 + 64 + 16  # the 8 nodes of a cell: P6..P3..P7
    lateral = 16 * 16 * 320 * 64 * 3 + 32 * 32 * 112 * 64 * 2 + 64 * 64 * 40 * 64  # cell 0's 1x1 resamples, P5 -> P6
    add('bifpn', gemm=3 * node_px * 64 * 64 + lateral, dw=3 * node_px * 64 * 9, swish=3 * node_px * 64)
    px = sum(levels)
    add('class_net', gemm=3 * px * 64 * 64 + px * 64 * 810, dw=4 * px * 64 * 9, swish=3 * px * 64)
    add('box_net', gemm=3 * px * 64 * 64 + px * 64 * 36, dw=4 * px * 64 * 9, swish=3 * px * 64)
    return stages


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--peak', type=float, default=216.0, help='FMA peak of one thread, GFLOP/s')
    ap.add_argument('--gemm-efficiency', type=float, default=0.95)
    ap.add_argument('--swish-ns', type=float, default=1.68, help='ns per 16-lane swish')
    a = ap.parse_args()
    print(f"{'stage':10} {'GEMM MMAC':>9} {'dw MMAC':>8} {'swish M':>8} {'GEMM ms':>8} {'dw ms':>6} {'swish ms':>8} {'floor ms':>8}")
    total = [0.0] * 6
    for stage, (gemm, dw, swish) in d0_counts().items():
        row = [gemm / 1e6, dw / 1e6, swish / 1e6, 2 * gemm / (a.peak * a.gemm_efficiency) / 1e6,
               2 * dw / a.peak / 1e6, swish / 16 * a.swish_ns / 1e6]
        total = [t + r for t, r in zip(total, row)]
        print(f"{stage:10} {row[0]:9.1f} {row[1]:8.1f} {row[2]:8.2f} {row[3]:8.2f} {row[4]:6.2f} {row[5]:8.2f} {sum(row[3:]):8.2f}")
    print(f"{'total':10} {total[0]:9.1f} {total[1]:8.1f} {total[2]:8.2f} {total[3]:8.2f} {total[4]:6.2f} {total[5]:8.2f} {sum(total[3:]):8.2f}")


if __name__ == '__main__':
    main()
