#!/bin/bash
# Issue 14, 2026-12-04 (AMD EPYC VM, 2 cores): the plain VAE and the HVAE + VampPrior for 75 minutes each, side by
# side, one thread each, with subnormals flushed (the trainer's default since 2026-12-03) and the cosine run over
# the budget's seconds: the HVAE's row had only been measured unflushed, with its schedule cut by the budget.
# Each lane then scores its own model (K = 5000, all 10,000 test images).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
D=${SHARED:-../shared/data}  # the shared data (from a worktree elsewhere: SHARED=/work/shared/data)
B="--data $D/mnist --budget-minutes 75 --eval-images 200 --threads 1 --final-later --lr-over-budget --set epochs=1000"
O=docs/mnist_nll_75min_hvae_ftz
F=".venv/bin/python benchmarks/mnist_nll.py --data $D/mnist --finish"
( .venv/bin/python benchmarks/mnist_nll.py $B --presets mnist-mlp --out $O/lane_a
  $F $O/lane_a/mnist_nll_mnist-mlp_dynamic.json ) > $O/lane_a.log 2>&1 &
( .venv/bin/python benchmarks/mnist_nll.py $B --presets mnist-hvae-vamp --out $O/lane_b
  $F $O/lane_b/mnist_nll_mnist-hvae-vamp_dynamic.json ) > $O/lane_b.log 2>&1 &
wait
