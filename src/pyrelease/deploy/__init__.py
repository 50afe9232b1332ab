"""release-deploy: push release tarballs to a store, pull them onto servers.

This package runs on servers: it imports nothing of the assembler
(``pyrelease`` outside ``pyrelease.deploy``) and keeps its dependencies few.
"""
