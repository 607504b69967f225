"""`python -m fgvr.train SPEC.json`: one process of a multi-GPU training stage (fgvr.train.run)."""
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by accelerate: make the fgvr package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fgvr.train.run import main  # noqa: E402

main(sys.argv[1:])
