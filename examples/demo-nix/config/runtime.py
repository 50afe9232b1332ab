# Runtime configuration, run at every boot: PORT and GREETING from the environment.
import os

from pyrelease.node.appconfig import config

config("demo-nix", port=int(os.environ.get("PORT", "4000")))

if "GREETING" in os.environ:
    config("demo-nix", greeting=os.environ["GREETING"])
