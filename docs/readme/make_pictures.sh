#!/usr/bin/env bash
# The README's pictures, made by the README's own commands (tests/test_readme.py checks
# that every vaekit command below is one of the README's, word for word).
# Run from the repository root with .venv/bin first on PATH: about two minutes on two cores.
set -euo pipefail
work=$(mktemp -d)
here=$(pwd)/docs/readme
cd "$work"
vaekit train --data digits --out runs/digits
vaekit sample runs/digits -n 64 --out samples.png
vaekit train --model cvae --data digits --out runs/cvae
vaekit sample runs/cvae --by-class -n 8 --out classes.png
cp samples.png "$here/digits_samples.png"
cp classes.png "$here/cvae_classes.png"
cp runs/digits/reconstructions.png "$here/digits_reconstructions.png"
# NAB's taxi series, from the test data beside the repository
ln -s "$here/../../../shared/data/nab/realKnownCause/nyc_taxi.csv" nyc_taxi.csv
ln -s "$here/../../../shared/data/nab/windows.json" windows.json
vaekit detect fit --data nyc_taxi.csv --time-column timestamp --label-windows windows.json --out runs/taxi
cp runs/taxi/scores_series.png "$here/taxi_scores.png"
rm -rf "$work"
