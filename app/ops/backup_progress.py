"""Progress of a backup or restore on stderr: a bar, lines, or nothing."""
from __future__ import annotations

import sys

import click


class Progress:
    """Progress on stderr: a bar on a terminal; lines when asked (--progress) elsewhere; else quiet."""

    def __init__(self, label: str, show: bool | None):
        on_terminal = sys.stderr.isatty()
        self.mode = "bar" if on_terminal and show is not False else ("lines" if show else "quiet")
        self.label, self._bar, self._pos, self._step, self._item = label, None, 0, -1, None

    def update(self, done: int, total: int, item: str | None = None) -> None:
        """Show that `done` of `total` steps are done, naming the current item if there is one."""
        total = max(total, 1)
        done = min(done, total)
        if self.mode == "bar":
            if self._bar is None:
                self._bar = click.progressbar(length=total, label=self.label, item_show_func=lambda x: x,
                                              file=sys.stderr)
                self._bar.__enter__()
            self._bar.update(done - self._pos, item)
            self._pos = done
        elif self.mode == "lines":
            if item and item != self._item:
                click.echo(f"  {item}", err=True)
            elif not item and done * 10 // total > self._step:
                click.echo(f"  {self.label}: {done * 100 // total}%", err=True)
            self._item, self._step = item or self._item, max(self._step, done * 10 // total)

    def finish(self) -> None:
        """Close the bar (safe to call more than once)."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
