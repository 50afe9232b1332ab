# Runtime configuration: copied into the release and run at every boot, before
# the applications start. Only the standard library and pyrelease.node are
# available here (never the build tool).
import os

from pyrelease.node.appconfig import config, config_env

config("demo", port=int(os.environ.get("PORT", "4000")), env=config_env())

if "GREETING" in os.environ:
    config("demo", greeting=os.environ["GREETING"])
