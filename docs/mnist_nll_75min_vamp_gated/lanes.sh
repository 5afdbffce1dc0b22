#!/bin/bash
# Issue 14, 2026-12-04 16:28 UTC (AMD EPYC VM, 2 cores): the plain VAE and the VampPrior with Tomczak & Welling's gated
# 300-300 networks (mnist-vamp-gated) for 75 minutes each, side by side, one thread each, subnormals flushed,
# the cosine over the budget's seconds; then each lane scores its own model (K = 5000, all 10,000 test images).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
D=${SHARED:-../shared/data}  # the shared data (from a worktree elsewhere: SHARED=/work/shared/data)
B="--data $D/mnist --budget-minutes 75 --eval-images 200 --threads 1 --final-later --lr-over-budget --set epochs=1000"
O=docs/mnist_nll_75min_vamp_gated
F=".venv/bin/python benchmarks/mnist_nll.py --data $D/mnist --finish"
( .venv/bin/python benchmarks/mnist_nll.py $B --presets mnist-mlp --out $O/lane_a
  $F $O/lane_a/mnist_nll_mnist-mlp_dynamic.json ) > $O/lane_a.log 2>&1 &
( .venv/bin/python benchmarks/mnist_nll.py $B --presets mnist-vamp-gated --out $O/lane_b
  $F $O/lane_b/mnist_nll_mnist-vamp-gated_dynamic.json ) > $O/lane_b.log 2>&1 &
wait
