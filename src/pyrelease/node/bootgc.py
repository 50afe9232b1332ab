"""The cyclic garbage collector while a node boots.

Booting is mostly importing, and imports allocate tens of thousands of
container objects that all stay alive (modules, functions, classes). The
collector, at its default thresholds, walks them again and again for nothing:
about 8 % of the import time of the example release. So from the first line
of the node until it is ready, the first generation's threshold is raised
(collections still happen, rarely, so a boot that makes a lot of garbage stays
bounded); at readiness the boot's objects are moved to the permanent generation
(``gc.freeze()``: later full collections skip them, and the first requests do
not pay for a collection of everything the boot loaded) and the normal
thresholds, or ``--gc-threshold`` from ``vm.args``, apply. ``--boot-gc normal``
in ``vm.args`` turns this off.
"""

import gc

#: During boot: a first-generation collection every 100 000 allocations (default 700).
BOOT_THRESHOLD = (100_000, 50, 50)
_saved = None


def defer() -> None:
    """Raise the thresholds for the boot (the first thing a booting node does)."""
    global _saved
    if _saved is None:
        _saved = gc.get_threshold()
        gc.set_threshold(*BOOT_THRESHOLD)


def settle(threshold: "tuple[int, ...] | None" = None, *, freeze: bool = True) -> None:
    """End the boot: freeze what it loaded, then apply ``threshold`` or the saved one."""
    global _saved
    if _saved is not None and freeze:
        gc.freeze()
    target = threshold or _saved
    _saved = None
    if target:
        gc.set_threshold(*target)


def cancel() -> None:
    """Undo :func:`defer` without freezing anything: this process is no node after all
    (a command forked by the booting node, see ``earlystart``).

    What the node made is moved to the oldest generation, where a long-lived
    object ends up anyway: at the normal thresholds the next allocation would
    otherwise collect all of it at once, writing to each object's header and so
    copying most pages of the fork (about a millisecond before the command's
    first line). Nothing stays frozen: the command sees the collector a new
    interpreter has. (CPython 3.12 starts with objects of its own in the permanent
    generation; there they stay, and the node's are collected as before.)
    """
    global _saved
    if _saved is not None:
        if not gc.get_freeze_count():
            gc.freeze()  # every generation into the permanent one, the counts reset...
            gc.unfreeze()  # ...and all of it into the oldest
        gc.set_threshold(*_saved)
    _saved = None
