#!/usr/bin/env bash
# Creates benchmarks/.venv-river, the benchmark-only environment with river (drift streams), when
# it is missing or broken. river is not a project dependency; versions are pinned exactly in
# benchmarks/envs/river-constraints.txt (pip freeze of a fresh venv with river and pyarrow).
#
#   bash benchmarks/envs/make_river_env.sh        # PYTHON=python3.11 by default
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(dirname "$here")/.venv-river"
python="${PYTHON:-python3.11}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import river, pyarrow" 2>/dev/null; then
    echo "river environment ready: $venv"
    exit 0
fi

rm -rf "$venv"
"$python" -m venv "$venv"
if ! "$venv/bin/python" -m pip install --quiet --constraint "$here/river-constraints.txt" \
    river pyarrow; then
    rm -rf "$venv"
    echo "could not install river into $venv" >&2
    exit 1
fi
echo "river environment created: $venv"
