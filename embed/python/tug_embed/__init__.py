"""tug_embed: tug-core's WebAssembly component driven from Python (a push and a pull of OCI
layouts). Python carries bytes, files and time; the component decides everything else."""

from .core import Core, Failed
from .drive import Layout, drive
from .transport import Transport

__all__ = ["Core", "Failed", "Layout", "Transport", "drive"]
