"""Test launcher: the real `m2m100 serve`, with a Translator that is slow on purpose.

M2M100_TEST_LOAD_DELAY: seconds added to model loading (to observe /health 503 while loading).
M2M100_TEST_BATCH_DELAY: seconds added to every model batch (to have requests in flight for the queue,
disconnect, timeout and SIGTERM tests). Everything else is the production code path.
"""

import os
import sys
import time

from m2m100.server.app import default_translator_factory
from m2m100.server.cli import main

LOAD_DELAY = float(os.environ.get("M2M100_TEST_LOAD_DELAY", "0"))
BATCH_DELAY = float(os.environ.get("M2M100_TEST_BATCH_DELAY", "0"))


def slow_factory(settings):
    time.sleep(LOAD_DELAY)
    translator = default_translator_factory(settings)
    run = translator.run  # what the server's Engine.run_batch calls for every model batch

    def slow_run(*args, **kwargs):
        time.sleep(BATCH_DELAY)
        return run(*args, **kwargs)

    translator.run = slow_run
    return translator


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], translator_factory=slow_factory))
