#!/usr/bin/env bash
# Set up the environment (first run only) and run the test suite on CPU.
#   bash tools/run_tests.sh [pytest args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/bootstrap.sh
# Keep the suite's threads to the machine's cores (2 on CI).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec .venv/bin/python -m pytest tests "$@"
