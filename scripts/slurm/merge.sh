#!/bin/bash
# After scripts/slurm/evaluate_array.sh's array: every shard merged into the unsharded numbers (refused, naming
# the shard, when one is missing or was evaluated under another protocol).
#SBATCH --job-name=inspector-merge
#SBATCH --cpus-per-task=1
#SBATCH --time=00:10:00
set -euo pipefail
OUT=${OUT:-eval}
PYTHON=${PYTHON:-python}
"$PYTHON" -m inspector evaluate-merge "$OUT"/shard*.parquet --json > "$OUT/summary.json"
