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
# Video files are decoded with FFmpeg's own libraries (cargo's `video`
# feature, on by default): building it needs their development files and
# libclang (for the bindings). Installed here where apt can; else named.
advp_video_deps="pkg-config libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libclang-dev"
advp_have_video_deps() {
  pkg-config --exists libavcodec libavformat libavutil libswscale 2>/dev/null \
    && ldconfig -p 2>/dev/null | grep 'libclang[-.0-9]*\.so' >/dev/null
}
if [ -z "${ADVP_NO_VIDEO:-}" ] && ! advp_have_video_deps; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "advp: installing FFmpeg's development files for video decoding (once): $advp_video_deps" >&2
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $advp_video_deps >/dev/null 2>&1 \
      || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends $advp_video_deps >/dev/null 2>&1; } || true
  fi
  if ! advp_have_video_deps; then
    echo "advp: video decoding needs FFmpeg's development files and libclang: install them (Debian/Ubuntu: sudo apt-get install $advp_video_deps), or run without videos: ADVP_NO_VIDEO=1 ./scripts/advp … (cargo build --no-default-features --features python)" >&2
    return 1
  fi
fi
