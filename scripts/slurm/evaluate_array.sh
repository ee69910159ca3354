#!/bin/bash
# One shard of an evaluation per Slurm array task: `sbatch scripts/slurm/evaluate_array.sh`, then, once the
# array has finished, `sbatch --dependency=afterok:<jobid> scripts/slurm/merge.sh`. Outside Slurm (a test, a
# laptop) the same lines run with SLURM_ARRAY_TASK_ID set by hand. tests/test_slurm.py runs this file.
#SBATCH --job-name=inspector-eval
#SBATCH --array=0-7
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
set -euo pipefail
: "${SLURM_ARRAY_TASK_ID:?set by Slurm for each array task}"
SHARDS=${SHARDS:-8}                    # keep equal to the --array size above
CHECKPOINT=${CHECKPOINT:-runs/exp/best.pt}
DATA=${DATA:-data/val}
OUT=${OUT:-eval}                       # one Parquet file per shard lands here
PYTHON=${PYTHON:-python}
# the few-shot protocol: every (K, seed) cell, this task's shard of each; drop --k-shot/--seeds for one run
GRID=${GRID:---k-shot 1,3,5 --seeds 0-4}
EPISODES=${EPISODES:-100}
mkdir -p "$OUT"
# shellcheck disable=SC2086  # GRID holds several options
"$PYTHON" -m inspector evaluate --checkpoint "$CHECKPOINT" --data "$DATA" --episodes "$EPISODES" $GRID \
    --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" --out "$OUT/shard$SLURM_ARRAY_TASK_ID.parquet" --threads 1
