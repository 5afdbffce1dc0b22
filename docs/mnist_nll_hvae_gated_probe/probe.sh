#!/bin/bash
# Issue 14, 2026-12-04 13:32-13:44 UTC (AMD EPYC VM, 2 cores): a 13-minute probe of two gated HVAE + VampPrior
# variants side by side, one thread each, on the 75-minute schedule of the earlier mnist-hvae-vamp lane (the cosine
# over 75 minutes' seconds), stopped by hand after ~13 minutes and compared on the probe with that lane's curve at
# equal training seconds (docs/mnist_nll_75min_hvae_ftz/lane_b). Run from a worktree of d365467 with the output in out/.
# The second --set replaced the first there (fixed since: repeats add up), so the epoch cap was the preset's 250,
# not 1000; with the cosine over the budget's seconds the cap does not change the first 13 minutes.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
D=${SHARED:-../shared/data}
B="--data $D/mnist --budget-minutes 75 --eval-images 200 --threads 1 --final-later --lr-over-budget --set epochs=1000 --presets mnist-hvae-vamp"
O=out
( .venv/bin/python benchmarks/mnist_nll.py $B --set activation=glu hidden_dims=300,300 latent_dim=40 --option top_latent_dim=40 --out $O/g300 ) > $O/g300.log 2>&1 &
( .venv/bin/python benchmarks/mnist_nll.py $B --set activation=glu hidden_dims=300,300 latent_dim=40 pseudo_inputs=500 --option top_latent_dim=40 --out $O/g300p500 ) > $O/g300p500.log 2>&1 &
wait
