"""The progress bar of verbose fits."""

import sys
import time


class Progress:
    """verbose=1: a tqdm progress bar over the epochs, or plain lines without tqdm."""

    def __init__(self, max_iter, verbose):
        self.bar = self.last_line = None
        if not verbose:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.last_line = 0.0
            return
        self.bar = tqdm(total=max_iter, unit="epoch", desc="fastgd", leave=True)

    def update(self, n_done, loss):
        if self.bar is not None:
            self.bar.update(n_done - self.bar.n)
            self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
        elif self.last_line is not None:
            self.pending = (n_done, loss)
            now = time.monotonic()
            if now - self.last_line >= 1.0:  # a line a second at most
                self.last_line = now
                self._print()

    def _print(self):
        n_done, loss = self.pending
        self.pending = None
        print(f"fastgd: epoch {n_done}, loss {loss:.6g}", file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.last_line is not None and getattr(self, "pending", None):
            self._print()  # the last epoch, whenever the previous line was
