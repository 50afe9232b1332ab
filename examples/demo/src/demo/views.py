"""The page template: ``string.Template`` from the standard library, and an ETag
computed by ``demo_speedups`` (a C extension of this repository).

Imported lazily, on the first ``GET /``: in embedded mode (the default) the
release preloads it before the application starts; in interactive mode it is
imported on first use. ``GET /info`` reports which happened.
"""

from html import escape
from string import Template

from demo_speedups import fnv1a

INDEX = Template("$greeting from $release $version!\n")

PAGE = Template(
    "<!doctype html>\n<title>$release</title>\n<h1>$greeting from $release $version!</h1>\n"
)


def render_index(greeting: str, release: str, version: str) -> str:
    """The plain-text greeting of ``GET /``."""
    return INDEX.substitute(greeting=greeting, release=release, version=version)


def render_page(greeting: str, release: str, version: str) -> str:
    """The same greeting as an HTML page (values escaped), for ``GET /page``."""
    values = {"greeting": greeting, "release": release, "version": version}
    return PAGE.substitute({k: escape(v) for k, v in values.items()})


def etag(body: str) -> str:
    """A strong ETag for ``body``: its 64-bit FNV-1a hash, computed in C."""
    return f'"{fnv1a(body.encode()):016x}"'
