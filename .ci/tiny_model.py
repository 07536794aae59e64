"""Write a tiny random M2M100 checkpoint (hub layout) to argv[1], for running the README's translate command
in CI without network access (the real facebook/m2m100_418M cannot be downloaded there).

It uses the test suite's builders (tests/builders.py, which need no pytest), so it is the same kind of
checkpoint the tests load.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from builders import build_checkpoint, train_sentencepiece  # noqa: E402

if __name__ == "__main__":
    out = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        build_checkpoint(out, train_sentencepiece(Path(tmp), "bpe"), seed=0)
    print(out)
