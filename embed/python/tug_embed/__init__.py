"""tug_embed: tug-core's WebAssembly component driven from Python (a push and a pull of OCI
layouts). Python carries bytes, files and time; the component decides everything else."""
