"""Writing checkpoints so that a crash never leaves a partial file under a name that is read back."""
import contextlib
import os
import zipfile

__all__ = ["atomic_open", "is_intact_checkpoint", "remove_partial_files", "PARTIAL_SUFFIX"]

PARTIAL_SUFFIX = ".partial"


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open `path` for writing; the data appears under that name only once it is complete.

    The data goes to "<path>.<pid>.partial", is flushed to disk, then renamed over `path`
    (os.replace is atomic on POSIX and Windows). A crash inside the block leaves `path` as it was.
    """
    tmp = f"{path}.{os.getpid()}{PARTIAL_SUFFIX}"
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(os.path.dirname(os.path.abspath(path)))


def _fsync_dir(folder):
    # Makes the rename itself durable; not every platform can open a folder.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_partial_files(folder):
    """Delete the partial files a killed save left in `folder`; returns their paths."""
    removed = []
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.endswith(PARTIAL_SUFFIX):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, name))
                    removed.append(os.path.join(folder, name))
    return removed


def is_intact_checkpoint(path):
    """Whether a torch.save file is complete: its zip directory reads and every member's CRC matches."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False
