#!/usr/bin/python3
"""edet-eval against pycocotools on random COCO cases (not committed: generated, compared,
deleted).

    /usr/bin/python3 tests/data/coco/compare_random_cases.py build/edet-eval [--seeds 0:200]

Each seed makes a case like make_coco_cases.py's (1-8 images, 1-4 or 9-20 categories,
jittered / duplicate / missed / false detections, crowd regions with detections inside,
score ties in 40% of cases, maxDets lists 1,10,100 / 1,3,7 / 2,10,100,200), runs the oracle
(../shared/oracle/coco_eval) and edet-eval on it, and compares the 12 numbers, the
per-category AP and the printed summary. Prints the largest difference; exits 1 on any
difference above 1e-9 or any summary line that differs. 200 seeds take ~2 minutes on 2 cores.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import make_coco_cases as M  # noqa: E402


def random_case(seed):
    c = M.Case('case%d' % seed, 1000 + seed)
    rng = c.rng
    imgs = rng.sample(range(1, 60), rng.randint(1, 8))
    for i in imgs:
        c.image(i)
    cats = rng.sample(range(1, 30), rng.randint(1, 4) if rng.random() < 0.7 else rng.randint(9, 20))
    for k in cats:
        c.category(k)
    ties = rng.random() < 0.4
    c.scatter(imgs, cats, per_image=rng.randint(0, 12), detect=rng.random(), dup=rng.random() * 0.6,
              fp=rng.randint(0, 6), seg_area=rng.random() < 0.5,
              score=(lambda r: r.choice([0.1, 0.5, 0.9])) if ties else (lambda r: round(r.random(), 3)))
    for _ in range(rng.randint(0, 3)):
        im, k = rng.choice(imgs), rng.choice(cats)
        b = c.box(rng.choice([30, 100, 200]))
        c.gt(im, k, b, crowd=1)
        for _ in range(rng.randint(0, 4)):
            c.det(im, k, [b[0] + rng.uniform(0, b[2]), b[1] + rng.uniform(0, b[3]), rng.uniform(1, 60),
                          rng.uniform(1, 60)], round(rng.random(), 2))
    return c, rng.choice([None, '1,10,100', '1,3,7', '2,10,100,200'])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('edet_eval')
    ap.add_argument('--seeds', default='0:200')
    ap.add_argument('--oracle', default=os.path.join(HERE, '..', '..', '..', '..', 'shared', 'oracle', 'coco_eval'))
    a = ap.parse_args()
    first, last = (int(v) for v in a.seeds.split(':'))
    work = tempfile.mkdtemp(prefix='edet-coco-random')
    env = M.oracle_env(os.path.join(work, 'stub'))
    worst, bad = 0.0, 0
    try:
        for seed in range(first, last):
            case, max_dets = random_case(seed)
            d = case.write(work)
            ann, res = os.path.join(d, 'annotations.json'), os.path.join(d, 'results.json')
            ours = [a.edet_eval, ann, res, '--json', os.path.join(d, 'got.json')]
            theirs = [a.oracle, ann, res, '--out', os.path.join(d, 'want.json')]
            if max_dets:
                ours += ['--max-dets', max_dets]
                theirs += ['--max-dets', max_dets]
            o = subprocess.run(theirs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
            g = subprocess.run(ours, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if o.returncode or g.returncode:
                print('seed %d: exit codes oracle %d, edet-eval %d\n%s%s' % (seed, o.returncode, g.returncode,
                                                                           o.stderr[-400:], g.stderr[-400:]))
                bad += 1
                continue
            summary = ''.join(line + '\n' for line in o.stdout.splitlines() if line.startswith(' Average'))
            got = json.load(open(os.path.join(d, 'got.json')))
            want = json.load(open(os.path.join(d, 'want.json')))
            diff = max([abs(got['stats'][k] - v) for k, v in want['stats'].items()] +
                       [abs(got['per_category_AP'][k] - v) for k, v in want['per_category_AP'].items()])
            worst = max(worst, diff)
            if diff > 1e-9 or summary != g.stdout:
                print('seed %d: max difference %g, summary %s' % (seed, diff, 'same' if summary == g.stdout else 'differs'))
                bad += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('%d cases, %d differ, max |edet - pycocotools| = %g' % (last - first, bad, worst))
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
