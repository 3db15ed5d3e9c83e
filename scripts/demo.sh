#!/usr/bin/env bash
# The main job, on a fresh machine: set up, then a short training run of ResNeXt-50 on a Fashion-MNIST
# subset (a few minutes on 2 cores). It prints the model summary, a progress bar per epoch, the
# accuracy after each epoch, and writes the run (checkpoints, curves, confusion matrix, report.html)
# to runs/demo-<time>. Extra arguments go to `resnext train` (e.g. --epochs 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run build --silent
exec node bin/resnext.js train \
  --data fashion-mnist --arch resnext50_32x4d --image-size 32 \
  --subset 5000 --val-subset 2000 --epochs 3 --batch-size 128 \
  --optimizer sgd --lr 0.02 --momentum 0.9 --nesterov --weight-decay 5e-4 \
  --scheduler onecycle --warmup-epochs 0.45 \
  --summary --out "runs/demo-$(date +%Y%m%d-%H%M%S)" "$@"
