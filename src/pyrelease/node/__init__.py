"""The pyrelease node: the runtime side copied into every release.

Everything in this package runs on the release's Python (CPython 3.11+) and
imports only the standard library. ``python -I -S .../node/__main__.py COMMAND``
is how ``bin/NAME`` enters it.
"""
