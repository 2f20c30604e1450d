#!/usr/bin/env bash
# The benchmark on a bare GPU host without network, unattended: `make bench-gpu`.
#
# Brings what the host lacks from build/wheels/ (made elsewhere by `make gpu-wheels`): the
# onnxruntime-gpu wheel in parts, the service's wheels, redis-server; checks that ONNX
# Runtime runs a model on CUDA; then runs `witryna bench` with WITRYNA_DEVICE=cuda and
# many workers on the 20k- and 1M-item models, `bench-memory` and `bench-inference`, and
# writes it all under bench/results/gpu-<device>-<time>/.
#
# Exit codes: 3 no GPU, 4 no CUDA in ONNX Runtime, 5 a carried file missing or unusable.
# Knobs: PYTHON, WHEELS, BENCH_ITEMS, BENCH_WORKERS, BENCH_RATES, BENCH_SECONDS, BENCH_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-build/wheels}
WORK=build/gpu-host
ITEMS=${BENCH_ITEMS:-20000 1000000}
WORKERS=${BENCH_WORKERS:-2 4 8}
RATES=${BENCH_RATES:-250 500 1000 2000}
SECONDS_EACH=${BENCH_SECONDS:-8}

refuse() {
	echo "bench/gpu_host.sh: $2" >&2
	exit "$1"
}

# First, before anything is installed: a GPU to measure.
command -v nvidia-smi >/dev/null ||
	refuse 3 "no GPU: nvidia-smi is not on PATH. This script measures a GPU host; on a CPU host run make bench"
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)
[ -n "$GPU" ] || refuse 3 "no GPU: nvidia-smi lists none"
compgen -G "$WHEELS/onnxruntime_gpu-*.whl.part-*" >/dev/null ||
	refuse 5 "no onnxruntime-gpu parts in $WHEELS/: run make gpu-wheels where there is network, and copy build/wheels/ here"

# A venv over the system's packages keeps the image's torch and its CUDA libraries.
mkdir -p "$WORK"
"$PYTHON" -m venv --system-site-packages "$WORK/venv"
BIN=$WORK/venv/bin
WHEEL=$("$BIN/python" -m bench.wheel_parts join "$WHEELS" "$WORK")
mapfile -t REQUIRED < <("$BIN/python" -m bench.wheel_parts requirements)
"$BIN/pip" install -q --no-index --find-links "$WHEELS/deps" "${REQUIRED[@]}" ||
	refuse 5 "the service's wheels are not all in $WHEELS/deps/ for $("$PYTHON" --version)"
"$BIN/pip" install -q --no-index --no-deps --force-reinstall "$WHEEL"
"$BIN/pip" install -q --no-index --no-deps --no-build-isolation -e .

# ONNX Runtime's CUDA provider loads CUDA and cuDNN from torch's nvidia-* wheels.
NVIDIA_LIBS=$("$BIN/python" -c 'import sys; print("\n".join(p for p in sys.path if p.endswith("-packages")))' |
	while read -r site; do find "$site"/nvidia -maxdepth 2 -type d -name lib 2>/dev/null || true; done | paste -sd:)
export LD_LIBRARY_PATH="$NVIDIA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# redis-server: the host's, else Debian's .debs unpacked here, else a static binary.
if ! command -v redis-server >/dev/null; then
	if compgen -G "$WHEELS/redis/*.deb" >/dev/null; then
		for deb in "$WHEELS"/redis/*.deb; do dpkg-deb -x "$deb" "$WORK/redis"; done
		export PATH="$PWD/$WORK/redis/usr/bin:$PATH"
		export LD_LIBRARY_PATH="$PWD/$WORK/redis/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH"
	elif [ -f "$WHEELS/redis-server" ]; then
		install -D -m 755 "$WHEELS/redis-server" "$WORK/bin/redis-server"
		export PATH="$PWD/$WORK/bin:$PATH"
	else
		refuse 5 "no redis-server here, nor its .debs in $WHEELS/redis/ nor a binary $WHEELS/redis-server"
	fi
	redis-server --version || refuse 5 "the carried redis-server does not run on this host"
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
SLUG=$(echo "$GPU" | tr '[:upper:] ' '[:lower:]-' | tr -cd 'a-z0-9-')
OUT=${BENCH_OUT:-bench/results/gpu-$SLUG-$STAMP}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_host.log") 2>&1

MODELS=build/bench-models
for items in $ITEMS; do
	[ -d "$MODELS/items-$items" ] || "$BIN/witryna" bench-models --items "$items" --out "$MODELS"
done

ONNX=$(find "$MODELS" -name '*.onnx' | head -n 1)
"$BIN/python" - "$ONNX" <<'EOF' || refuse 4 "ONNX Runtime runs no model on CUDA here (LD_LIBRARY_PATH=$LD_LIBRARY_PATH)"
import sys

import onnxruntime as ort

# ONNX Runtime falls back to the CPU with a warning when CUDA's libraries fail to load.
session = ort.InferenceSession(sys.argv[1], providers=["CUDAExecutionProvider"])
print("onnxruntime", ort.__version__, session.get_providers())
sys.exit(session.get_providers()[0] != "CUDAExecutionProvider")
EOF

export WITRYNA_DEVICE=cuda WITRYNA_MODELS_DIR=$MODELS
for items in $ITEMS; do
	# shellcheck disable=SC2086 # the lists are meant to split into arguments
	WITRYNA_MODEL_NAME=items-$items "$BIN/witryna" bench --requests 500 --rates $RATES \
		--seconds "$SECONDS_EACH" --workers $WORKERS --out "$OUT/items-$items"
done
MOST=$(echo "$WORKERS" | tr ' ' '\n' | sort -n | tail -n 1)
"$BIN/witryna" bench-memory "$MODELS" --workers "$MOST" --out "$OUT"
"$BIN/witryna" bench-inference "$MODELS" --out "$OUT"

{
	echo "# witryna bench on $GPU"
	echo
	echo "\`bench/gpu_host.sh\` at $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $STAMP:"
	echo "items $ITEMS, workers $WORKERS, rates $RATES, $SECONDS_EACH s a run, WITRYNA_DEVICE=cuda."
	echo
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
	echo
	find "$OUT" -name '*.md' ! -name README.md | sort | sed "s|^$OUT/|- |"
} >"$OUT/README.md"
echo "results: $OUT"
