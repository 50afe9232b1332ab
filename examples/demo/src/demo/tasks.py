"""Release tasks, run with `bin/demo eval` (no application is started)."""


def eval_migrate() -> None:
    print("migrated")
