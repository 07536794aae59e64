"""Test launcher for test_hostile_server.py: the real `m2m100 serve`, whose model batches first spend
M2M100_TEST_BATCH_SPIN seconds inside torch (matrix products, the GIL released): a worker thread that is
busy in native code when the process exits, as a real model call would be."""

import os
import sys
import time

import torch

from m2m100.server.app import default_translator_factory
from m2m100.server.cli import main

SPIN = float(os.environ.get("M2M100_TEST_BATCH_SPIN", "0"))


def spinning_factory(settings):
    translator = default_translator_factory(settings)
    run = translator.run  # what the server's Engine.run_batch calls for every model batch
    a = torch.randn(256, 256)

    def spinning_run(*args, **kwargs):
        end = time.monotonic() + SPIN
        while time.monotonic() < end:
            torch.mm(a, a)
        return run(*args, **kwargs)

    translator.run = spinning_run
    return translator


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], translator_factory=spinning_factory))
