#!/bin/bash
# Issue 14, 2026-12-04 (AMD EPYC VM, 2 cores): static binarization (the Larochelle & Murray files), where the
# VampPrior of 2026-12-03 overfit (best validation epoch 108 of 226, 87.74 nats). mnist-vamp-gated on a 100-epoch
# cosine, without and with dropout 0.1, side by side, one thread each; the final NLL scores each run's best
# validation epoch (K = 5000, all 10,000 test images). Started while the 75-minute dynamic lanes were scoring.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
D=${SHARED:-../shared/data}  # the shared data (from a worktree elsewhere: SHARED=/work/shared/data)
S="--data $D/mnist --static $D/binarized-mnist"
B="$S --presets mnist-vamp-gated --budget-minutes 60 --eval-images 200 --threads 1 --final-later --set epochs=100"
O=docs/mnist_nll_static_vamp_gated
F=".venv/bin/python benchmarks/mnist_nll.py $S --finish"
( .venv/bin/python benchmarks/mnist_nll.py $B --out $O/lane_a
  $F $O/lane_a/mnist_nll_mnist-vamp-gated_static.json ) > $O/lane_a.log 2>&1 &
( .venv/bin/python benchmarks/mnist_nll.py $B --set dropout=0.1 --out $O/lane_b
  $F $O/lane_b/mnist_nll_mnist-vamp-gated_static_dropout-0.1.json ) > $O/lane_b.log 2>&1 &
wait
