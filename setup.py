# All metadata lives in setup.cfg; this file exists for `pip install -e .` with
# older setuptools and `--no-build-isolation`.
from setuptools import setup

setup()
