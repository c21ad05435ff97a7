#!/usr/bin/env bash
# The main job: detect objects in the bundled sample image (examples/data/astronaut.png)
# with the published tf_efficientdet_d0 weights, print the table, and write
# out/astronaut.json (COCO results) and out/astronaut.png (boxes drawn).
#
# The weights are fetched once into the cache ($EDET_HOME, else $XDG_CACHE_HOME/edet, else
# ~/.cache/edet) and SHA-256 checked. Offline, put tf_efficientdet_d0_34-f153e0cf.pth
# there by hand; without it this script says so and falls back to the seeded random
# weights of ../shared/fixtures (boxes then mean nothing: it only shows the pipeline).
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-examples/data/astronaut.png}
scripts/install-deps.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target edet-detect -j"$(nproc)" >/dev/null
mkdir -p out
stem=$(basename "${image%.*}")
if build/edet-detect --model tf_efficientdet_d0 --json "out/$stem.json" --draw out "$image"; then
  echo "wrote out/$stem.json and out/$stem.png"
  exit 0
fi
fixture=../shared/fixtures/tf_efficientdet_d0_s0/weights.safetensors
if [[ ! -f $fixture ]]; then
  echo "detect-sample: no published weights and no $fixture to fall back to" >&2
  exit 1
fi
echo
echo "detect-sample: the published tf_efficientdet_d0 weights are not available (see above)."
echo "detect-sample: running the same pipeline with the RANDOM fixture weights $fixture;"
echo "detect-sample: the boxes below are not meaningful detections."
# The table goes to a file first: piping it into head would end edet-detect with SIGPIPE
# (and this script with it, under pipefail) once head has its 25 lines.
build/edet-detect --weights "$fixture" --json "out/$stem.json" --draw out "$image" > "out/$stem.txt"
head -n 25 "out/$stem.txt"
echo "wrote out/$stem.json, out/$stem.png and out/$stem.txt (random weights)"
