#!/bin/bash
# Grades a class in shards on SLURM: a job array of N tasks, 0 to N - 1, where each
# task's SLURM_ARRAY_TASK_ID is its shard, I of --shard I/N (N is the array's size,
# SLURM_ARRAY_TASK_COUNT). Submit from the course folder (where course.yml is):
#
#   job=$(sbatch --parsable deploy/slurm/grade-shards.sh submissions/ shards/)
#   sbatch --dependency=afterok:$job --wrap "difflearn merge shards/* --to grades/"
#
# Each task writes its students' results to shards/<I>; the merge writes grades.csv,
# summary.md and its pictures into grades/, as one grade-batch run would.
#SBATCH --job-name=difflearn-grade
#SBATCH --array=0-2
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --output=difflearn-grade-%A_%a.log
set -euo pipefail

submissions=${1:?usage: sbatch grade-shards.sh SUBMISSIONS_DIR OUT_DIR}
out=${2:?usage: sbatch grade-shards.sh SUBMISSIONS_DIR OUT_DIR}

exec difflearn grade-batch "$submissions" \
    --workers "${SLURM_CPUS_PER_TASK:-1}" \
    --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" \
    --out "$out/$SLURM_ARRAY_TASK_ID"
