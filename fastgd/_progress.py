"""The progress bar of verbose fits."""

import sys
import time


class Progress:
    """verbose=1: a tqdm progress bar over the method's steps, or plain lines without
    tqdm. ``unit``: what a step is ("pass" over the data for the direct solve,
    "iteration" for a full batch's other methods, "epoch" for mini-batches); the bar
    counts up to max_iter and, when the fit stops sooner, ends at the steps it took
    (a CG fit ended at "4/1000 epochs")."""

    def __init__(self, max_iter, verbose, unit="epoch"):
        self.bar = self.last_line = None
        self.unit = unit
        if not verbose:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.last_line = 0.0
            return
        self.bar = tqdm(total=max_iter, unit=unit, desc="fastgd", leave=True)

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
        print(f"fastgd: {self.unit} {n_done}, loss {loss:.6g}", file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.total = self.bar.n  # the steps taken: the fit is done
            self.bar.refresh()
            self.bar.close()
        elif self.last_line is not None and getattr(self, "pending", None):
            self._print()  # the last epoch, whenever the previous line was


class BlockProgress:
    """The progress bar of ``fastgd fit`` and ``fastgd predict`` (tqdm, on stderr;
    nothing without tqdm). With ``total``, a bar the caller advances with ``update``
    (blocks written); without, one bar for each pass Dask's local scheduler runs,
    over its tasks (a block's read and its work, the merges)."""

    def __init__(self, total=None):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        self.tqdm, self.bar, self.callback, self.passes = tqdm, None, None, 0
        if tqdm is None:
            return
        if total is not None:
            self.bar = tqdm(total=total, unit="block", desc="fastgd", leave=False, mininterval=0)
            return
        from dask.callbacks import Callback

        self.callback = Callback(
            start_state=self._start_pass, posttask=self._task_done, finish=self._end_pass
        )
        self.callback.register()

    def _start_pass(self, dsk, state):
        self.passes += 1
        tasks = len(state["ready"]) + len(state["waiting"]) + len(state["running"])
        # (every task drawn: a pass has a task per block, each a read of the file; at
        # tqdm's default 0.1 s between draws a pass of fast blocks stayed at 0%)
        self.bar = self.tqdm(
            total=tasks, unit="task", desc=f"fastgd pass {self.passes}", leave=False, mininterval=0
        )

    def _task_done(self, key, result, dsk, state, worker_id):
        self.bar.update(1)

    def _end_pass(self, dsk, state, failed):
        self.close_bar()

    def update(self, n):
        if self.bar is not None:
            self.bar.update(n)

    def close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self):
        self.close_bar()
        if self.callback is not None:
            self.callback.unregister()
