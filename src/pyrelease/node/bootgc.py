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
    (a command forked by the booting node, see ``earlystart``)."""
    global _saved
    if _saved is not None:
        gc.set_threshold(*_saved)
    _saved = None
