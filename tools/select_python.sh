# Sourced by the launch scripts (dist_*.sh, slurm_*.sh, benchmarks/*.sh):
# sets PYTHON to the interpreter they run. Order: $PYTHON if already set (an
# explicit override), else this checkout's .venv/bin/python when it exists
# (made by tools/bootstrap.sh), else `python` from PATH.
if [ -z "${PYTHON:-}" ]; then
  _mmconmim_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -x "$_mmconmim_root/.venv/bin/python" ]; then
    PYTHON="$_mmconmim_root/.venv/bin/python"
  else
    PYTHON=python
  fi
  unset _mmconmim_root
fi
export PYTHON
