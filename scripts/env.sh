# Sourced by the other scripts: makes libtorch available to cargo.
# A user's own LIBTORCH wins; otherwise the pinned PyTorch wheel is installed
# once into a project-local, git-ignored venv (.venv) and used from there.
ADVP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ADVP_TORCH_VERSION="2.13.0"
if [ -z "${LIBTORCH:-}" ]; then
  venv="$ADVP_ROOT/.venv"
  if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$ADVP_TORCH_VERSION')" 2>/dev/null; then
    echo "advp: installing PyTorch $ADVP_TORCH_VERSION into $venv (once, about 2 minutes)" >&2
    python3 -m venv "$venv" || { echo "advp: python3 -m venv failed; install python3-venv" >&2; return 1; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "torch==$ADVP_TORCH_VERSION" \
      || { echo "advp: pip install torch==$ADVP_TORCH_VERSION failed" >&2; return 1; }
  fi
  export PATH="$venv/bin:$PATH"
  export LIBTORCH_USE_PYTORCH=1
fi
export LIBTORCH_BYPASS_VERSION_CHECK="${LIBTORCH_BYPASS_VERSION_CHECK:-0}"
