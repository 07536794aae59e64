"""Test launcher for test_streaming.py: the real `m2m100 serve`, whose decoder takes M2M100_TEST_STEP_DELAY
seconds more per decoding step (a forward pre-hook that sleeps), so that a long translation lasts long enough
to watch a short one pass it. Everything else is the production code path."""

import os
import sys
import time

from m2m100.server.app import default_translator_factory
from m2m100.server.cli import main

STEP_DELAY = float(os.environ.get("M2M100_TEST_STEP_DELAY", "0"))


def step_delay_factory(settings):
    translator = default_translator_factory(settings)
    translator.model.get_decoder().register_forward_pre_hook(lambda module, args: time.sleep(STEP_DELAY))
    return translator


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], translator_factory=step_delay_factory))
