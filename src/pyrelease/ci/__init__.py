"""``pyrelease ci``: what the GitHub Action runs, kept in the package so it is tested.

The action's YAML only sets up Python and calls ``pyrelease ci build``; this
package builds the release, names and checksums its tarball, uploads it through
``release-deploy push`` and reports to the runner (outputs, job summary,
annotations) or, outside GitHub, as plain text.
"""
