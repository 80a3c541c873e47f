"""A latency table over (batch, seq), interpolated monotonically.

Values are made non-decreasing along both axes (running maximum) and
non-negative, so bilinear interpolation between grid points is monotone too.
Below the smallest seq the value is held; above the largest batch or seq it
grows in proportion (the cost of more tokens of the same shape).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """values[i, j]: seconds at batches[i] queries of seqs[j] tokens each."""

    batches: np.ndarray
    seqs: np.ndarray
    values: np.ndarray

    @classmethod
    def monotone(cls, batches, seqs, values) -> "Grid":
        b, s = np.asarray(batches, dtype=float), np.asarray(seqs, dtype=float)
        v = np.clip(np.asarray(values, dtype=float).reshape(len(b), len(s)), 0.0, None)
        if len(b) == 1:  # a one-point axis: constant up to its point, proportional beyond
            b, v = np.array([b[0] - 1.0, b[0]]), np.vstack([v, v])
        if len(s) == 1:
            s, v = np.array([s[0] - 1.0, s[0]]), np.hstack([v, v])
        v = np.maximum.accumulate(np.maximum.accumulate(v, axis=0), axis=1)
        return cls(b, s, v)

    def __call__(self, batch, seq):
        """Seconds for `batch` queries of `seq` tokens; broadcasts over numpy arrays."""
        b = np.asarray(batch, dtype=float)
        s = np.asarray(seq, dtype=float)
        # np.minimum/np.maximum rather than np.clip: the planners call this thousands of times
        # a second on small arrays, where np.clip's overhead is most of the cost
        bc = np.minimum(np.maximum(b, self.batches[0]), self.batches[-1])
        sc = np.minimum(np.maximum(s, self.seqs[0]), self.seqs[-1])
        bi, bw = _bracket(self.batches, bc)
        si, sw = _bracket(self.seqs, sc)
        v = self.values
        inner = ((1 - bw) * (1 - sw) * v[bi, si] + bw * (1 - sw) * v[bi + 1, si]
                 + (1 - bw) * sw * v[bi, si + 1] + bw * sw * v[bi + 1, si + 1])
        scale = np.maximum(b / bc, 1.0) * np.maximum(s / sc, 1.0)
        out = inner * scale
        return float(out) if out.ndim == 0 else out


def _bracket(axis: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the grid cell holding x (lower corner) and x's weight toward the upper one."""
    i = np.minimum(np.maximum(np.searchsorted(axis, x, side="right") - 1, 0), len(axis) - 2)
    w = (x - axis[i]) / (axis[i + 1] - axis[i])
    return i, w
