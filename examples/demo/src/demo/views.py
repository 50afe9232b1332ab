"""The page template.

Imported lazily, on the first ``GET /``: in embedded mode (the default) the
release preloads it before the application starts; in interactive mode it is
imported on first use. ``GET /info`` reports which happened.
"""

from jinja2 import Template

INDEX = "{{ greeting }} from {{ release }} {{ version }}!\n"

_index = Template(INDEX)


def render_index(greeting: str, release: str, version: str) -> str:
    return _index.render(greeting=greeting, release=release, version=version)
