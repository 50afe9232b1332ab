"""``start(ctx)`` runs a job loop in the background until the node stops it."""

import threading

import core
import idna


def start(ctx) -> dict:
    """Start the job loop and return at once: the returned state means "running"."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(0.5):
            pass

    thread = threading.Thread(target=loop, name="worker-jobs", daemon=True)

    def stopping() -> None:
        print("worker stopping", flush=True)
        done.set()
        thread.join()

    ctx.on_stop(stopping)
    thread.start()
    host = idna.encode("bücher.example").decode()
    print(f"worker started: {core.greeting('worker')} ({host})", flush=True)
    return {"thread": thread}
