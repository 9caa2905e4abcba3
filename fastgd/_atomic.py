"""Files written whole or not at all: saved models and the command line's predictions."""

import contextlib
import os
import uuid


@contextlib.contextmanager
def written_atomically(path):
    """A temporary path beside ``path``, renamed to ``path`` when the block ends
    without an error and removed otherwise: an interrupted write (an error, Ctrl-C)
    never leaves a half-written file at ``path``. The temporary name is this call's
    own: threads or processes writing the same path each rename a whole file (the
    last one wins), never one another's half."""
    temporary = f"{os.fspath(path)}.{os.getpid()}-{uuid.uuid4().hex}.part"
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
