"""``python -m pyrelease.deploy``: the same as ``release-deploy``."""

from pyrelease.deploy.cli import run

run()
