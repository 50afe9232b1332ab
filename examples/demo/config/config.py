# Build-time configuration: evaluated by `pyrelease build`, frozen into the
# release as releases/VSN/sys.config. Values that must change per deployment
# belong in config/runtime.py instead.
from pyrelease.node.appconfig import config, config_env, import_config

config("demo", greeting="Hello", port=4000)

import_config(f"{config_env()}.py")
