# The C extension (setuptools reads everything else from pyproject.toml).
from setuptools import Extension, setup

setup(ext_modules=[Extension("demo_speedups._fnv", ["src/demo_speedups/_fnv.c"])])
