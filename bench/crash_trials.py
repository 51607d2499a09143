"""More crash trials than CI runs: a writer killed with SIGKILL at random moments, the store checked after
each kill (tests/crash_writer.py).

    python bench/crash_trials.py [--trials 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.crash_writer

from tests.crash_writer import run_trials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        acked = run_trials(Path(tmp) / "store", args.trials, args.seed)
    print(f"{datetime.date.today()}: {args.trials} kill -9 trials, {acked} acknowledged documents, none lost, "
          f"no partial document, check clean after every kill ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
