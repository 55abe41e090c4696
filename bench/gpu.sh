#!/usr/bin/env bash
# The GPU benchmark in one command (bench/gpu.py says what it runs and writes):
#   bash bench/gpu.sh            on the GPU machine, after `stage`: everything, into $OUT
#   bash bench/gpu.sh --dry-run  the same steps on this machine's CPU, tiny shapes, 2 calls
#   bash bench/gpu.sh pack       here (PyPI, flite): .gpu/ and the plan of device calls
#   bash bench/gpu.sh stage      there: install the carried wheels, join the carried model
#   bash bench/gpu.sh preflight  there: what the machine has, and whether it can run
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PY=.venv/bin/python
elif [ -x /opt/torch/.venv/bin/python3 ]; then PY=/opt/torch/.venv/bin/python3
else PY=python3; fi
# callscribe from this tree, and what `stage` installed
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .gpu/site ]; then export PYTHONPATH="$PWD/.gpu/site:$PYTHONPATH"; fi
if ! "$PY" -c "import av" 2>/dev/null; then export PYTHONPATH="$PYTHONPATH:$PWD/bench/shims"; fi
# CUDA libraries that pip packages (nvidia-*) hold, where the loader can find them
libs=$("$PY" -c 'import glob, os, sys; print(":".join(sorted({d for p in sys.path for d in glob.glob(os.path.join(p, "nvidia", "*", "lib"))})))')
if [ -n "$libs" ]; then export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
exec "$PY" bench/gpu.py "$@"
