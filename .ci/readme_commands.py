"""Print the README's quick-start set-up commands, so CI runs exactly what a new user types.

The README's "## Quick start" section holds exactly two ```bash blocks: the first installs the package and
translates a sentence, the second installs the dev extra and runs the test suite. This script is the single
place that reads them; `.ci/run` executes what it prints, so the README cannot drift from what CI runs.

Usage: python3 .ci/readme_commands.py translate|test|translate-install
  translate          the first command, verbatim
  translate-install  the first command without its last `&& ...` step (the installs alone)
  test               the second command, verbatim
Exits 1 with a message when the section does not have exactly two one-line commands.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def quick_start_commands(text: str) -> list[str]:
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", text, flags=re.S | re.M)
    if section is None:
        raise SystemExit("README.md has no '## Quick start' section")
    blocks = re.findall(r"^```bash\n(.*?)^```", section.group(1), flags=re.S | re.M)
    commands = [block.strip() for block in blocks]
    if len(commands) != 2 or any("\n" in c for c in commands):
        raise SystemExit(f"README.md quick start must hold exactly two one-line bash commands, found {commands!r}")
    return commands


def main(argv: list[str]) -> int:
    translate, test = quick_start_commands(README.read_text(encoding="utf-8"))
    which = argv[1] if len(argv) > 1 else ""
    if which == "translate":
        print(translate)
    elif which == "translate-install":
        print(translate.rsplit("&&", 1)[0].strip())
    elif which == "test":
        print(test)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
