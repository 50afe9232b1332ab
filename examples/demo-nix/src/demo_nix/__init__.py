"""The example service built by the Nix flake."""

__version__ = "0.1.0"
