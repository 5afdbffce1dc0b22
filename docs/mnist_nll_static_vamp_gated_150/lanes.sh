#!/bin/bash
# Issue 14, 2026-12-04 18:36 UTC (AMD EPYC VM, 2 cores): static binarization, mnist-vamp-gated on a 150-epoch cosine
# (the 100-epoch run's best validation epoch was 95 of 100, still falling). One lane, one thread, beside the CI run
# (the budget is the epochs, not the minutes); the final NLL in two halves side by side (K = 5000, all 10,000 images).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
D=${SHARED:-../shared/data}  # the shared data (from a worktree elsewhere: SHARED=/work/shared/data)
S="--data $D/mnist --static $D/binarized-mnist"
O=docs/mnist_nll_static_vamp_gated_150
F=".venv/bin/python benchmarks/mnist_nll.py $S --finish $O/lane_a/mnist_nll_mnist-vamp-gated_static.json --final-part"
.venv/bin/python benchmarks/mnist_nll.py $S --presets mnist-vamp-gated --budget-minutes 90 --eval-images 200 \
    --threads 1 --final-later --set epochs=150 --out $O/lane_a > $O/lane_a.log 2>&1
( $F 1/2 > $O/finish_1.log 2>&1 & $F 2/2 > $O/finish_2.log 2>&1 & wait )
