#!/bin/bash
# Issue 14, 2026-12-04 (AMD EPYC VM, 2 cores): static binarization, where mnist-vamp-gated (100 pseudo-inputs, a
# 100-epoch cosine) scored 86.03, 0.24 above pythae's 85.79. Tomczak & Welling's 500 pseudo-inputs, with the
# preset's 5-epoch KL warm-up and a 20-epoch one (theirs: 100 epochs of up to 2,000), side by side, one thread each; the final NLL
# scores each run's best validation epoch (K = 5000, all 10,000 test images).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
D=${SHARED:-../shared/data}  # the shared data (from a worktree elsewhere: SHARED=/work/shared/data)
S="--data $D/mnist --static $D/binarized-mnist"
B="$S --presets mnist-vamp-gated --budget-minutes 90 --eval-images 200 --threads 1 --final-later --set epochs=100 pseudo_inputs=500"
O=docs/mnist_nll_static_vamp500
F=".venv/bin/python benchmarks/mnist_nll.py $S --finish"
( .venv/bin/python benchmarks/mnist_nll.py $B --out $O/lane_a
  $F $O/lane_a/mnist_nll_mnist-vamp-gated_static_pseudo_inputs-500.json ) > $O/lane_a.log 2>&1 &
( .venv/bin/python benchmarks/mnist_nll.py $B --set kl_warmup_epochs=20 --out $O/lane_b
  $F $O/lane_b/mnist_nll_mnist-vamp-gated_static_pseudo_inputs-500_kl_warmup_epochs-20.json ) > $O/lane_b.log 2>&1 &
wait
