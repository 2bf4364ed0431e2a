#!/usr/bin/env bash
# One convbench sweep as a Slurm job array: task K of N measures shard K/N, then one dependent job
# merges the shards and plots them.
#
#   sbatch examples/slurm-array.sh configs/layer.yaml          # submits the array AND the merge
#
# Timing rules that make the numbers worth having:
# - One shard per node, alone (--exclusive): a neighbour job on the same cores or memory bus
#   corrupts timings. If your site cannot give whole nodes, ask for fixed cores instead
#   (--cpus-per-task=1 --cpu-bind=cores, and keep `threads: 1` in the config) and expect noisier
#   results; never run two shards on one node at once.
# - Keep every task on one partition of identical nodes: merge refuses shards from different CPU
#   models (pass --allow-machines to override, and then compare cells only within one machine).
# - A task that hits its time limit or is preempted keeps the rows it wrote: requeue it, or re-run
#   `convbench run ... --shard K/N -o SAME.csv --resume`, and merge again.
#
#SBATCH --job-name=convbench
#SBATCH --array=1-4
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --exclusive
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=shards/%x-%A_%a.log
set -euo pipefail

CONFIG=${1:-configs/layer.yaml}
CB=${CONVBENCH:-.venv/bin/convbench}
OUT_DIR=${OUT_DIR:-shards}
mkdir -p "$OUT_DIR"

# The array's size is N; Slurm numbers tasks 1..N here, exactly convbench's K in --shard K/N.
SHARDS=${SLURM_ARRAY_TASK_COUNT:?submit with sbatch (--array=1-N)}
K=${SLURM_ARRAY_TASK_ID:?submit with sbatch (--array=1-N)}
if [[ ${SLURM_ARRAY_TASK_MIN:-1} != 1 ]]; then
    echo "use --array=1-N: task ids must run from 1 to N" >&2
    exit 2
fi

# Task 1 also submits the merge (once, not again when requeued): it starts when every task has
# ended, whatever their exit codes, and reports the cells a failed task left missing.
if [[ $K == 1 && ${SLURM_RESTART_COUNT:-0} == 0 ]]; then
    sbatch --dependency="afterany:${SLURM_ARRAY_JOB_ID}" --job-name=convbench-merge \
        --ntasks=1 --time=00:30:00 --output="$OUT_DIR/%x-%j.log" \
        --wrap="$CB merge results/merged.csv $OUT_DIR/shard-*.csv; $CB plot results/merged.csv"
fi

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
# --resume: a requeued task continues where it stopped instead of starting over.
RESUME=()
[[ -s "$OUT_DIR/shard-$K.csv" ]] && RESUME=(--resume)
srun --ntasks=1 "$CB" run "$CONFIG" --shard "$K/$SHARDS" -o "$OUT_DIR/shard-$K.csv" \
    --no-progress "${RESUME[@]}"
