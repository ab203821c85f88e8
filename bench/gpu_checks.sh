#!/usr/bin/env bash
# Every check the open issues ask of a GPU, in one call on a machine with a CUDA device
# (15 minutes of device time is typical: each step has its own time limit, so one slow step
# never eats the others). Writes each step's output to OUT (default ./gpu-checks).
#
#     bash bench/gpu_checks.sh [OUT]
#
# Steps: the CUDA tests (trainer, builder, packed engine, memory estimate against a measured
# peak); the packed engine in-process; image training with augmentation against the
# hand-written loop; trainings per minute through the real worker path (SQLite and the
# filesystem broker when no PostgreSQL or redis-server is there).
set -u
OUT=${1:-gpu-checks}
mkdir -p "$OUT"
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD:$PWD/platform${PYTHONPATH:+:$PYTHONPATH}"

step() {  # step NAME SECONDS COMMAND...: run with a limit, keep its output and its exit code
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    echo "   rc=$rc in $((SECONDS - start)) s; last lines:"
    tail -n 4 "$OUT/$name.log" | sed 's/^/   /'
}

nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi"
"$PY" -c 'import torch; print(torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")' | tee "$OUT/torch.txt"
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || { echo "no CUDA device: nothing to check"; exit 1; }

step cuda-tests 240 "$PY" -m pytest -q -p no:randomly tests/workers/test_train_cuda.py tests/workers/test_build_cuda.py \
    tests/workers/test_train_packed.py tests/workers/test_admission.py -k "cuda or gpu"
step packed-engine 120 "$PY" bench/packed_engine.py --device cuda
step image-training 120 "$PY" bench/image_training.py --device cuda --rows 5000 --epochs 4
step throughput 240 "$PY" bench/throughput.py --device cuda --entries 512 --epochs 5
grep -h "^bench:" "$OUT"/*.log
