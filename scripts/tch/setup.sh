# Source this file (`source scripts/tch/setup.sh`) to build and run Kiln's `tch` backend
# (LibTorch through burn-tch). torch-sys 0.22 expects LibTorch 2.9.0: this makes a virtual
# environment with the PyPI wheel `torch==2.9.0` (its bundled LibTorch is what tch links to),
# activates it, and exports what torch-sys and the dynamic loader need:
#
#   LIBTORCH_USE_PYTORCH=1       torch-sys takes LibTorch from the active Python's torch package
#   LIBTORCH_BYPASS_VERSION_CHECK  unset: the versions must match
#   LD_LIBRARY_PATH              torch/lib, so that the built binary finds libtorch at run time
#
# Then: cargo xtask bench --backend tch ... (built into target/xtask-tch on first use), and
# `cargo xtask bench --compare --backend tch --python "$KILN_TORCH_PYTHON"` compares against the
# same PyTorch 2.9.0. A C++ compiler is needed (g++).
set -e
KILN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${KILN_TCH_VENV:-$KILN_ROOT/target/tch-venv}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV with torch==2.9.0 (from PyPI; once)" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q "torch==2.9.0" "torchvision==0.24.0"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
export LIBTORCH_USE_PYTORCH=1
TORCH_LIB="$("$VENV/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export KILN_TORCH_PYTHON="$VENV/bin/python"
export KILN_TORCH_VENV="$VENV"
set +e
echo "tch ready: torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') in $VENV" >&2
