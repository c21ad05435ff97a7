#!/usr/bin/python3
"""Small COCO bbox evaluation cases for tests/detect/coco_eval_test.cpp, with pycocotools'
answers.

    /usr/bin/python3 tests/data/coco/make_coco_cases.py [--oracle ../shared/oracle/coco_eval]

writes, next to this script, one directory per case with annotations.json, results.json,
expected.json (the oracle's output: pycocotools' 12 stats and per-category AP) and
summary.txt (the 12 lines pycocotools' summarize() printed), and
cases.json listing the cases and the maxDets each is evaluated with. Deterministic: each case
has its own seed, so the same script gives the same files. Every case is small (a few
images and categories) and aims at one part of COCOeval:

  basic           jittered, duplicate, missed and false detections; non-contiguous ids
  crowd           iscrowd regions: IoU over the detection's area, never used up, ignored
  area_ranges     gt "area" differing from w*h, areas and detection sizes on the 32^2 and
                  96^2 bounds, integer boxes
  empty_images    images without objects or detections, a category without ground truth,
                  annotations and results outside the listed images/categories
  score_ties      few distinct scores: ties within and across images keep input order
  many_dets       more than 100 detections per image
  max_dets_custom --max-dets 1,5,20 (100 absent: pycocotools' AP line is -1)
  max_dets_four   --max-dets 1,10,100,300 (summary uses the first three, per-category the last)
  empty_results   an empty results file
  id_zero         an annotation with id 0 (pycocotools counts its match as a false positive)
"""
import argparse, json, os, random, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def r2(v):
    return round(v, 2)


class Case:
    def __init__(self, name, seed, max_dets=None):
        self.name, self.max_dets = name, max_dets
        self.rng = random.Random(seed)
        self.images, self.categories, self.annotations, self.results = [], [], [], []

    def image(self, id, w=640, h=480):
        self.images.append({'id': id, 'file_name': '%012d.jpg' % id, 'width': w, 'height': h})

    def category(self, id):
        self.categories.append({'id': id, 'name': 'class%d' % id, 'supercategory': 'thing'})

    def gt(self, image_id, category_id, box, area=None, crowd=0, id=None):
        box = [float(v) if isinstance(v, float) else v for v in box]
        self.annotations.append({
            'id': len(self.annotations) + 1 if id is None else id, 'image_id': image_id,
            'category_id': category_id, 'bbox': box,
            'area': box[2] * box[3] if area is None else area, 'iscrowd': crowd,
            'segmentation': [[box[0], box[1], box[0] + box[2], box[1], box[0] + box[2], box[1] + box[3]]]})

    def det(self, image_id, category_id, box, score):
        self.results.append({'image_id': image_id, 'category_id': category_id, 'bbox': box, 'score': score})

    # A random box of about `side` pixels inside a 640x480 image.
    def box(self, side):
        rng = self.rng
        w = max(1.0, side * rng.uniform(0.6, 1.6))
        h = max(1.0, side * side / w * rng.uniform(0.8, 1.25))
        x = rng.uniform(0, max(1.0, 640 - w))
        y = rng.uniform(0, max(1.0, 480 - h))
        return [r2(x), r2(y), r2(w), r2(h)]

    def jitter(self, box, amount):
        rng = self.rng
        x, y, w, h = box
        return [r2(x + rng.uniform(-amount, amount) * w), r2(y + rng.uniform(-amount, amount) * h),
                r2(max(0.5, w * (1 + rng.uniform(-amount, amount)))), r2(max(0.5, h * (1 + rng.uniform(-amount, amount))))]

    def random_side(self):
        return self.rng.choice([12, 20, 28, 40, 60, 80, 110, 160, 250])

    # Ground truth scattered over images and categories, detected imperfectly.
    def scatter(self, image_ids, category_ids, per_image, detect=0.8, dup=0.2, fp=2, seg_area=True,
                score=lambda rng: round(rng.random(), 3)):
        rng = self.rng
        for im in image_ids:
            for _ in range(rng.randint(0, per_image)):
                c = rng.choice(category_ids)
                b = self.box(self.random_side())
                self.gt(im, c, b, area=r2(b[2] * b[3] * rng.uniform(0.5, 1.0)) if seg_area else None)
                if rng.random() < detect:
                    self.det(im, c, self.jitter(b, rng.choice([0.02, 0.08, 0.15, 0.3])), score(rng))
                    if rng.random() < dup:
                        self.det(im, c, self.jitter(b, 0.1), score(rng))
            for _ in range(rng.randint(0, fp)):
                self.det(im, rng.choice(category_ids), self.box(self.random_side()), score(rng))

    def write(self, out_dir):
        d = os.path.join(out_dir, self.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'annotations.json'), 'w') as f:
            json.dump({'info': {'description': 'edet test case ' + self.name}, 'images': self.images,
                       'categories': self.categories, 'annotations': self.annotations}, f)
        with open(os.path.join(d, 'results.json'), 'w') as f:
            json.dump(self.results, f)
        return d


def make_cases():
    cases = []

    c = Case('basic', 1)
    imgs = [397133, 37777, 252219, 87038, 174482, 403385]
    for i in imgs: c.image(i)
    for k in (1, 3, 7, 42): c.category(k)
    c.scatter(imgs, [1, 3, 7, 42], per_image=6)
    cases.append(c)

    c = Case('crowd', 2)
    imgs = [11, 12, 13, 14]
    for i in imgs: c.image(i)
    for k in (2, 5): c.category(k)
    rng = c.rng
    for im in imgs:
        crowd = [r2(rng.uniform(0, 200)), r2(rng.uniform(0, 150)), r2(rng.uniform(150, 400)), r2(rng.uniform(120, 300))]
        c.gt(im, 2, crowd, area=r2(crowd[2] * crowd[3] * 0.6), crowd=1)
        # people inside the crowd region, some annotated
        for _ in range(rng.randint(2, 5)):
            b = [r2(crowd[0] + rng.uniform(0, crowd[2] - 40)), r2(crowd[1] + rng.uniform(0, crowd[3] - 60)),
                 r2(rng.uniform(15, 40)), r2(rng.uniform(30, 60))]
            if rng.random() < 0.5:
                c.gt(im, 2, b)
            c.det(im, 2, c.jitter(b, 0.1), round(rng.random(), 3))
            if rng.random() < 0.4:  # a second detection on the same person
                c.det(im, 2, c.jitter(b, 0.05), round(rng.random(), 3))
        # a detection half outside the crowd region, and the whole region as one detection
        c.det(im, 2, [r2(crowd[0] + crowd[2] - 20), r2(crowd[1] + 10), 40.0, 50.0], round(rng.random(), 3))
        c.det(im, 2, c.jitter(crowd, 0.05), round(rng.random(), 3))
        c.scatter([im], [2, 5], per_image=3, fp=1)
    cases.append(c)

    c = Case('area_ranges', 3)
    imgs = [1, 2, 3]
    for i in imgs: c.image(i)
    for k in (4, 9): c.category(k)
    # integer boxes whose "area" lies on, just under and just over the range bounds
    for im in imgs:
        for k in (4, 9):
            for area, box in [(1024, [10, 10, 32, 32]), (1023.99, [60, 10, 32, 32]), (1024.01, [110, 10, 32, 32]),
                              (9216, [10, 100, 96, 96]), (9215.5, [120, 100, 96, 96]), (9216.5, [240, 100, 96, 96]),
                              (500, [10, 250, 40, 40]), (2000, [80, 250, 30, 30]), (20000, [140, 250, 100, 150]),
                              (0, [300, 10, 20, 20])]:
                if c.rng.random() < 0.8:
                    c.gt(im, k, box, area=area)
                    if c.rng.random() < 0.85:
                        c.det(im, k, c.jitter(box, c.rng.choice([0.0, 0.05, 0.2])), round(c.rng.random(), 2))
            # unmatched detections exactly on the bounds (w*h = 1024, 9216) and around them
            for box in ([400, 300, 32, 32], [400, 300, 16, 64], [300, 200, 96, 96], [300, 200, 64, 144],
                        [450, 20, 31, 33], [450, 60, 97, 95], [500, 400, 0, 10]):
                if c.rng.random() < 0.6:
                    c.det(im, k, box, round(c.rng.random(), 2))
    cases.append(c)

    c = Case('empty_images', 4)
    imgs = [5, 6, 7, 8, 9, 10]
    for i in imgs: c.image(i)
    for k in (10, 20, 30): c.category(k)  # 30: detections only
    c.scatter([5, 6], [10, 20], per_image=5, fp=1)
    c.det(7, 10, c.box(50), 0.9)  # image 7: no objects, two false detections
    c.det(7, 30, c.box(50), 0.8)
    c.det(9, 30, c.box(20), 0.95)  # image 8 and 10: nothing at all
    c.gt(99, 10, [1.0, 2.0, 30.0, 40.0])  # image 99 is not listed: left out
    c.gt(5, 77, [5.0, 5.0, 50.0, 50.0])   # category 77 is not listed: left out
    c.det(6, 77, [5.0, 5.0, 50.0, 50.0], 0.99)  # result with an unlisted category: left out
    cases.append(c)

    c = Case('score_ties', 5)
    imgs = [100, 101, 102, 103, 104]
    for i in imgs: c.image(i)
    for k in (1, 2): c.category(k)
    c.scatter(imgs, [1, 2], per_image=7, dup=0.5, fp=3, score=lambda rng: rng.choice([0.3, 0.5, 0.7, 0.9]))
    cases.append(c)

    c = Case('many_dets', 6)
    imgs = [21, 22, 23]
    for i in imgs: c.image(i)
    for k in (1, 2): c.category(k)
    rng = c.rng
    for im in (21, 22):
        boxes = [c.box(c.random_side()) for _ in range(40)]
        for b in boxes:
            c.gt(im, rng.choice([1, 2]), b)
        for _ in range(130):
            b = rng.choice(boxes)
            c.det(im, rng.choice([1, 1, 2]), c.jitter(b, rng.choice([0.03, 0.1, 0.4])), round(rng.random(), 4))
    c.gt(23, 2, [10.0, 10.0, 100.0, 100.0])
    c.det(23, 2, [12.0, 11.0, 99.0, 98.0], 0.05)
    cases.append(c)

    c = Case('max_dets_custom', 7, max_dets='1,5,20')
    imgs = [31, 32, 33, 34]
    for i in imgs: c.image(i)
    for k in (3, 6, 9): c.category(k)
    c.scatter(imgs, [3, 6, 9], per_image=12, dup=0.4, fp=10)
    cases.append(c)

    c = Case('max_dets_four', 8, max_dets='1,10,100,300')
    imgs = [41, 42]
    for i in imgs: c.image(i)
    for k in (1, 5): c.category(k)
    rng = c.rng
    for im in imgs:
        boxes = [c.box(c.random_side()) for _ in range(30)]
        for b in boxes:
            c.gt(im, rng.choice([1, 5]), b)
        for _ in range(170):
            b = rng.choice(boxes)
            c.det(im, rng.choice([1, 5, 5]), c.jitter(b, rng.choice([0.03, 0.1, 0.4])), round(rng.random(), 4))
    cases.append(c)

    c = Case('empty_results', 9)
    imgs = [1, 2]
    for i in imgs: c.image(i)
    for k in (1, 2): c.category(k)
    c.scatter(imgs, [1], per_image=4, detect=0, fp=0)
    c.results = []
    cases.append(c)

    c = Case('id_zero', 10)
    for i in (1, 2): c.image(i)
    c.category(1)
    c.gt(1, 1, [10.0, 10.0, 50.0, 50.0], id=0)
    c.gt(1, 1, [100.0, 100.0, 50.0, 50.0], id=7)
    c.gt(2, 1, [30.0, 30.0, 80.0, 60.0], id=8)
    c.det(1, 1, [11.0, 10.0, 50.0, 49.0], 0.9)   # matches id 0: a false positive for pycocotools
    c.det(1, 1, [100.0, 102.0, 50.0, 50.0], 0.8)
    c.det(2, 1, [30.0, 31.0, 80.0, 60.0], 0.7)
    c.det(1, 1, [12.0, 12.0, 48.0, 48.0], 0.6)   # second on id 0: taken, so unmatched
    cases.append(c)
    return cases


# pycocotools' coco.py imports matplotlib for showAnns() only; the oracle's installer does not
# install it, so the oracle runs with these empty stand-ins on its path (the evaluation never
# draws).
MATPLOTLIB_STUBS = {
    'matplotlib/__init__.py': '',
    'matplotlib/pyplot.py': '',
    'matplotlib/collections.py': 'class PatchCollection:\n    pass\n',
    'matplotlib/patches.py': 'class Polygon:\n    pass\n',
}


def oracle_env(stub_dir):
    env = dict(os.environ)
    try:
        subprocess.run(['/usr/bin/python3', '-c', 'import matplotlib'], check=True, stderr=subprocess.DEVNULL)
        return env
    except subprocess.CalledProcessError:
        pass
    for rel, text in MATPLOTLIB_STUBS.items():
        path = os.path.join(stub_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
    env['PYTHONPATH'] = stub_dir + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--oracle', default=os.path.join(HERE, '..', '..', '..', '..', 'shared', 'oracle', 'coco_eval'))
    ap.add_argument('--out', default=HERE)
    a = ap.parse_args()
    manifest = []
    stub_dir = tempfile.mkdtemp(prefix='edet-mpl-stub')
    env = oracle_env(stub_dir)
    for case in make_cases():
        d = case.write(a.out)
        cmd = [a.oracle, os.path.join(d, 'annotations.json'), os.path.join(d, 'results.json'),
               '--out', os.path.join(d, 'expected.json')]
        if case.max_dets:
            cmd += ['--max-dets', case.max_dets]
        run = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env, text=True)
        with open(os.path.join(d, 'summary.txt'), 'w') as f:
            f.writelines(line + '\n' for line in run.stdout.splitlines() if line.startswith(' Average'))
        manifest.append({'name': case.name, 'max_dets': case.max_dets or '1,10,100',
                         'annotations': len(case.annotations), 'results': len(case.results)})
        print(case.name, len(case.images), 'images', len(case.annotations), 'annotations', len(case.results), 'results',
              file=sys.stderr)
    with open(os.path.join(a.out, 'cases.json'), 'w') as f:
        json.dump({'generator': 'make_coco_cases.py', 'oracle': 'pycocotools (../shared/oracle/coco_eval)',
                   'cases': manifest}, f, indent=1)


if __name__ == '__main__':
    main()
