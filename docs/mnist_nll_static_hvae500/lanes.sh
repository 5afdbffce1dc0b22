#!/bin/bash
# Issue 14, 2026-12-04 20:39 UTC (AMD EPYC VM, 2 cores): static binarization, the two-level HVAE + VampPrior with the
# settings that took mnist-vamp-gated to 84.89 (500 pseudo-inputs, a 20-epoch KL warm-up, a 100-epoch cosine);
# Tomczak & Welling's static HVAE + VampPrior: 83.19. One lane, one thread, beside the ADBench prior study (the
# budget is the epochs, not the minutes); the final NLL in two halves side by side (K = 5000, all 10,000 images).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
D=${SHARED:-../shared/data}  # the shared data (from a worktree elsewhere: SHARED=/work/shared/data)
S="--data $D/mnist --static $D/binarized-mnist"
O=docs/mnist_nll_static_hvae500
R=$O/lane_a/mnist_nll_mnist-hvae-vamp-gated_static_pseudo_inputs-500_kl_warmup_epochs-20.json
F=".venv/bin/python benchmarks/mnist_nll.py $S --finish $R --final-part"
.venv/bin/python benchmarks/mnist_nll.py $S --presets mnist-hvae-vamp-gated --budget-minutes 120 --eval-images 200 \
    --threads 1 --final-later --set epochs=100 pseudo_inputs=500 kl_warmup_epochs=20 --out $O/lane_a > $O/lane_a.log 2>&1
( $F 1/2 > $O/finish_1.log 2>&1 & $F 2/2 > $O/finish_2.log 2>&1 & wait )
