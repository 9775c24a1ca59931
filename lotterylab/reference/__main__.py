"""``python -m lotterylab.reference CH``: make or resume chapter CH's reference run (see lotterylab.reference)."""
from __future__ import annotations

import argparse
import sys

from lotterylab.reference import CHAPTERS, run_reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lotterylab.reference", description=__doc__)
    parser.add_argument("chapter", type=int, choices=sorted(CHAPTERS), help="chapter number")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: the GPU if there is one)")
    args = parser.parse_args(argv)
    manifest = run_reference(args.chapter, device=args.device)
    print(manifest.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
