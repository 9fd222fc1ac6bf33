#!/usr/bin/env bash
# Creates benchmarks/.venv-evidently, the benchmark-only environment with Evidently 0.7 for
# benchmarks/drift_vs_evidently.py, when it is missing or broken. Its own environment because
# evidently 0.7.23 needs pandas<3 (with pandas 3 it fails at import) and the project needs
# pandas 3. Every package is pinned exactly by benchmarks/envs/evidently-constraints.txt, the
# `pip freeze` of a fresh venv after `pip install evidently==0.7.23 pyarrow "pandas<3"`.
#
#   bash benchmarks/envs/make_evidently_env.sh        # PYTHON=python3.11 by default
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(dirname "$here")/.venv-evidently"
python="${PYTHON:-python3.11}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import evidently, pyarrow" 2>/dev/null; then
    exit 0
fi

rm -rf "$venv"
"$python" -m venv "$venv"
if ! "$venv/bin/pip" install --quiet --constraint "$here/evidently-constraints.txt" \
    evidently pyarrow pandas; then
    rm -rf "$venv"
    echo "could not install evidently into $venv" >&2
    exit 1
fi
echo "evidently environment created: $venv"
