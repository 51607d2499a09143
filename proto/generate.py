"""Regenerate the Python stubs of memory.proto: `python -m msa.proto.generate` (needs grpcio-tools,
in the test extra). `--check` exits 1 if the committed stubs differ from freshly generated ones."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUTS = ("memory_pb2.py", "memory_pb2.pyi", "memory_pb2_grpc.py")


def generate(out: Path) -> None:
    """Stubs into OUT, importing each other as `msa.proto.*` (protoc derives that from the proto's path)."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "msa" / "proto"
        src.mkdir(parents=True)
        shutil.copy(HERE / "memory.proto", src)
        args = ["protoc", f"-I{tmp}", f"--python_out={tmp}", f"--pyi_out={tmp}", f"--grpc_python_out={tmp}",
                "msa/proto/memory.proto"]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed on memory.proto")
        for name in OUTPUTS:
            shutil.copy(src / name, out / name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args()
    if not args.check:
        generate(HERE)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = [n for n in OUTPUTS if (Path(tmp) / n).read_bytes() != (HERE / n).read_bytes()]
    if stale:
        print(f"stale stubs: {', '.join(stale)}; run `python -m msa.proto.generate`", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
