#!/bin/bash
# Issue 14, 2026-12-04 (AMD EPYC VM, 2 cores): static binarization, mnist-vamp-gated with 500 pseudo-inputs and a
# 50-epoch KL warm-up (a 20-epoch one scored 84.89, the preset's 5 epochs 85.67; Tomczak & Welling's rose over 100 epochs), on the same
# 100-epoch cosine. One lane, one thread, beside the static HVAE lane (the budget is the epochs, not the minutes);
# the final NLL scores its best validation epoch (K = 5000, all 10,000 test images).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
D=${SHARED:-../shared/data}  # the shared data (from a worktree elsewhere: SHARED=/work/shared/data)
S="--data $D/mnist --static $D/binarized-mnist"
O=docs/mnist_nll_static_vamp500_warmup50
.venv/bin/python benchmarks/mnist_nll.py $S --presets mnist-vamp-gated --budget-minutes 90 --eval-images 200 \
    --threads 1 --final-later --set epochs=100 pseudo_inputs=500 kl_warmup_epochs=50 --out $O/lane_a > $O/lane_a.log 2>&1
.venv/bin/python benchmarks/mnist_nll.py $S --finish \
    $O/lane_a/mnist_nll_mnist-vamp-gated_static_pseudo_inputs-500_kl_warmup_epochs-50.json >> $O/lane_a.log 2>&1
