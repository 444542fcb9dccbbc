"""The errors checkpoint reading raises; each message names the file or key at fault."""


class CheckpointError(Exception):
    """Base class of the checkpoint errors below."""


class CheckpointFormatError(CheckpointError, ValueError):
    """A file that is truncated, corrupt, or not a GroupViT checkpoint of a known format."""


class UnsafeCheckpointError(CheckpointError, RuntimeError):
    """A file whose pickle would run code (call a function) while being read."""


class CheckpointMismatchError(CheckpointError, ValueError):
    """A checkpoint whose tensors do not fit the model (another architecture or size)."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint path (MODEL.WEIGHTS or the one last_checkpoint names) with no file behind it."""
