"""An application with nothing to serve: it starts, stays up, and says when it stops.

Its start callable is found through the ``pyrelease.application`` entry point.
"""


def _stopping() -> None:
    print("demo_extra stopping", flush=True)


def start(ctx) -> dict:
    """Record the start and return at once: a returned state means "running until stopped"."""
    ctx.on_stop(_stopping)
    print("demo_extra started", flush=True)
    return {"started": True}
