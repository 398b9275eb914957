#!/usr/bin/env bash
# On a real GPU: the babyweight example, 8 trials packed on one GPU against 1 trial per GPU.
#
#     benchmarks/gpu_check.sh            # about 6 minutes on one GPU; needs nvidia-smi
#
# Runs two tuning jobs of the same TRIALS (8) trials and reports for each its trials per hour,
# the mean GPU utilization while it ran and the peak GPU memory used (nvidia-smi, sampled every
# half second):
#   packed:   GPU 0 only, --trials-per-gpu TRIALS (all at once, TensorFlow's memory growth on)
#   per_gpu:  every GPU, --trials-per-gpu 1 (one trial per GPU, the others wait for a free one)
# Settings (environment): PYTHON (default .venv/bin/python, with tensorflow[and-cuda]==2.15.1;
# `make venv` installs it where nvidia-smi works), TRIALS, JOB_SECONDS (the limit of each job,
# default 240), OUT (where jobs, logs and the table go; default a new temporary directory).
# The table is printed and written to $OUT/gpu_check.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
TRIALS=${TRIALS:-8}
JOB_SECONDS=${JOB_SECONDS:-240}
OUT=${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
TRAIN_ARGS=(--train_examples 20000 --num_epochs 2 --eval_steps 20 --num_evals 2)
mkdir -p "$OUT"
export TF_HPTUNE_DATA_DIR=$OUT/data PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}

if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: needs an NVIDIA GPU with a working nvidia-smi" >&2
    exit 2
fi
GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
echo "gpu_check: $GPUS GPU(s): $(nvidia-smi --query-gpu=name --format=csv,noheader | sort | uniq -c | xargs)"
"$PYTHON" -c "import tensorflow as tf; print('gpu_check: TensorFlow', tf.__version__, 'sees',
len(tf.config.list_physical_devices('GPU')), 'GPU(s)')"

cat > "$OUT/config.yaml" <<EOF
trainingInput:
  hyperparameters:
    goal: MINIMIZE
    hyperparameterMetricTag: rmse
    maxTrials: $TRIALS
    maxParallelTrials: $TRIALS
    algorithm: RANDOM_SEARCH
    params:
    - {parameterName: nembeds, type: INTEGER, minValue: 3, maxValue: 30}
    - {parameterName: nnsize, type: DISCRETE, discreteValues: [16, 32, 64, 128]}
EOF

# The data set is generated once, outside the timed jobs; TensorFlow's first start warms up.
(cd trainer_examples/babyweight && "$PYTHON" -m trainer.task --job-dir "$OUT/warmup" \
    "${TRAIN_ARGS[@]}" >"$OUT/warmup.log" 2>&1)

run_job() {  # NAME FLAGS...: one job, nvidia-smi sampled beside it; "NAME SECONDS" to results
    local name=$1
    shift
    nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits \
        -lms 500 >"$OUT/$name.smi.csv" 2>/dev/null &
    local smi=$!
    local start end
    start=$(date +%s.%N)
    (cd trainer_examples && timeout "$JOB_SECONDS" "$PYTHON" -m tf_hptune.cli jobs submit \
        training "gpu_check_$name" --config "$OUT/config.yaml" --module-name trainer.task \
        --package-path babyweight/trainer --job-dir "$OUT/$name" --store "$OUT/store.db" \
        --wait --seed 0 "$@" -- "${TRAIN_ARGS[@]}") >"$OUT/$name.log" 2>&1 || true
    end=$(date +%s.%N)
    kill "$smi" 2>/dev/null || true
    wait "$smi" 2>/dev/null || true
    awk -v n="$name" -v s="$start" -v e="$end" 'BEGIN { print n, e - s }' >>"$OUT/results.txt"
}

: >"$OUT/results.txt"
run_job packed --gpus 1 --trials-per-gpu "$TRIALS"
run_job per_gpu --gpus "$GPUS" --trials-per-gpu 1

"$PYTHON" - "$OUT" "$TRIALS" "$GPUS" <<'EOF'
import csv, json, subprocess, sys
from pathlib import Path

out, trials, gpus = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rows = ["| job | GPUs used | trials succeeded | wall time | trials per hour | mean GPU "
        "utilization | peak GPU memory |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
for line in (out / "results.txt").read_text().split("\n"):
    if not line.strip():
        continue
    name, seconds = line.split()[0], float(line.split()[1])
    used = 1 if name == "packed" else gpus
    described = subprocess.run(
        [sys.executable, "-m", "tf_hptune.cli", "jobs", "describe", f"gpu_check_{name}",
         "--store", str(out / "store.db"), "--format", "json"], capture_output=True, text=True)
    job = json.loads(described.stdout) if described.returncode == 0 else {}
    done = sum(t.get("state") == "SUCCEEDED"
               for t in job.get("trainingOutput", {}).get("trials", []))
    util: list[float] = []
    memory: dict[str, float] = {}
    with open(out / f"{name}.smi.csv", newline="") as f:
        for r in csv.reader(f):
            try:
                index, u, m = r[0].strip(), float(r[1]), float(r[2])
            except (IndexError, ValueError):
                continue
            if int(index) < used:
                util.append(u)
                memory[index] = max(memory.get(index, 0.0), m)
    mean_util = f"{sum(util) / len(util):.0f} %" if util else "n/a"
    peak = f"{max(memory.values()):.0f} MiB" if memory else "n/a"
    rows.append(f"| {name} | {used} | {done} of {trials} | {seconds:.0f} s | "
                f"{3600 * done / seconds:.0f} | {mean_util} | {peak} |")
table = "\n".join(rows)
(out / "gpu_check.md").write_text(table + "\n")
print(table)
EOF
echo "gpu_check: jobs, logs and nvidia-smi samples in $OUT"
