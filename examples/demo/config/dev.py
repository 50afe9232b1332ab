# Build-time configuration for PYRELEASE_ENV=dev (imported by config/config.py).
from pyrelease.node.appconfig import config

config("demo", host="127.0.0.1", greeting="Hello (dev)")
