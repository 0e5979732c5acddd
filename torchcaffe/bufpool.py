"""Persistent memory for a CPU net's large maps, as Caffe keeps its blobs (grow-only).

Allocations above glibc's mmap threshold (32 MB, torchcaffe.memory) are mapped afresh every
time: the kernel zeroes each page on first touch, which on a VM costs about as much as the
arithmetic of the layers that write them, and how much depends on the state of the machine's
memory (the spread of training times). Two things stop that for the layers torchcaffe computes
itself:

- `BufferPool`: one grow-only buffer per site (layer, role), reused every iteration. A site asks
  for a shape; it gets a view of the first elements of its buffer, which grows (is replaced by a
  larger one) only when a larger shape arrives: whole images change size every iteration, as in
  Caffe's Blob::Reshape. Used for the convolution outputs computed by regions (training and
  inference, NCHW or channels_last views) and, training, their bottom diffs and the MAX pooling
  outputs and bottom diffs (the pooling keeps one-byte window offsets, not pooled: small). A view
  handed out at one iteration is overwritten at the next (as Caffe's blob memory is).
- Bands: the convolution primitives allocate their own outputs and blocked-format copies; a
  convolution over a large map is computed in row bands (`band_rows`) whose temporaries stay
  below the mmap threshold, so glibc serves them from its heap without fresh pages. Each band's
  output rows are computed from exactly the input rows they see, so the result is the same
  arithmetic (tests/test_torchcaffe_buffers.py).

CPU nets use it by default (inference nets for their convolutions by regions, NCHW or
channels_last); `Net(buffers=False)` or TORCHCAFFE_BUFFERS=0 turns both off.
`Net(band_mb=)` / TORCHCAFFE_BAND_MB (default: the host table's, torchcaffe.tuning: 8 MB) sets
the bytes of a band's output, `Net(buffers_min_mb=)` / TORCHCAFFE_BUFFERS_MIN_MB (default 4)
the size from which a map is pooled.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch

from . import options as _options

# Maps from 4 MB (options.Options.buffers_min_mb's default): above glibc's mmap threshold (32 MB)
# they would be mapped afresh; from 4 MB up the pooled maps also stop fragmenting the heap
# (FCN-8s's conv3 maps and diffs are ~30 MB).
# Measured, 500x500 training (2-core Xeon VM, 2026-11-25): peak RSS 3.02-3.05 GB with 4 MB,
# 3.09-3.26 GB with 32 MB.


def band_bytes() -> int:
    """Bytes of one band's output: TORCHCAFFE_BAND_MB, else the host table's (8 MB)."""
    from . import tuning

    return tuning.current().band_bytes


def enabled_from_env() -> bool:
    """Whether nets keep persistent buffers unless told (TORCHCAFFE_BUFFERS, default on)."""
    return _options.current().buffers


class BufferPool:
    """Grow-only buffers keyed by site; `grows` and `reuses` count what happened."""

    def __init__(self, min_bytes: int | None = None) -> None:
        if min_bytes is None:
            min_bytes = int(_options.current().buffers_min_mb * (1 << 20))
        self.min_bytes = min_bytes
        self._bufs = {}
        self.grows = 0
        self.reuses = 0

    def empty(
        self,
        key: Hashable,
        shape: Sequence[int],
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> torch.Tensor:
        """An uninitialised tensor of `shape` (in `memory_format`: contiguous or, 4-D,
        channels_last): a view of site `key`'s buffer when it is large, else a torch.empty."""
        shape = tuple(int(s) for s in shape)
        n = 1
        for s in shape:
            n *= s
        device = torch.device(device)
        cl = memory_format == torch.channels_last and len(shape) == 4
        if n * torch.empty((), dtype=dtype).element_size() < self.min_bytes:
            return torch.empty(shape, dtype=dtype, device=device, memory_format=memory_format)
        buf = self._bufs.get(key)
        if buf is None or buf.numel() < n or buf.dtype != dtype or buf.device != device:
            self._bufs.pop(key, None)  # drop the smaller one before mapping the larger
            buf = torch.empty(n, dtype=dtype, device=device)
            self._bufs[key] = buf
            self.grows += 1
        else:
            self.reuses += 1
        if cl:  # NHWC memory seen as N x C x H x W
            n_, c, h, w = shape
            return buf[:n].view(n_, h, w, c).permute(0, 3, 1, 2)
        return buf[:n].view(shape)

    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self._bufs.values())

    def clear(self) -> None:
        self._bufs.clear()


def band_rows(row_bytes: int, total_rows: int, limit: int | None = None) -> int:
    """Rows per band so that a band's output stays under `limit` bytes (at least one row);
    total_rows when one band holds them all."""
    limit = band_bytes() if limit is None else limit
    if row_bytes * total_rows <= limit:
        return total_rows
    return max(1, limit // max(row_bytes, 1))


def conv_input_grad(
    d: torch.Tensor,
    w: torch.Tensor,
    x_shape: Sequence[int],
    stride: Sequence[int],
    pad: Sequence[int],
    dil: Sequence[int],
    groups: int,
    out: torch.Tensor | None = None,
    limit: int | None = None,
) -> torch.Tensor | None:
    """Bottom diff of a 2-D convolution (stride 1, dilation 1) from its top diff `d`, computed in
    row bands into `out` (a fresh tensor when None). Band rows [i0, i1) come from the top diff
    rows that see them, by a transposed convolution without row padding. None when the geometry
    is not handled here (the caller then runs aten's convolution_backward)."""
    if tuple(stride) != (1, 1) or tuple(dil) != (1, 1) or d.dim() != 4:
        return None
    n, c, h, wd = (int(s) for s in x_shape)
    kh = w.shape[2]
    ph, pw = pad
    if d.shape[2] != h + 2 * ph - kh + 1 or d.shape[3] != wd + 2 * pw - w.shape[3] + 1:
        return None
    if ph >= kh:  # rows of the padding the kernel never reaches back into
        return None
    rows = band_rows(n * c * wd * d.element_size(), h, limit)
    if out is None:
        out = torch.empty((n, c, h, wd), dtype=d.dtype, device=d.device)
    ho = d.shape[2]
    for i0 in range(0, h, rows):
        i1 = min(h, i0 + rows)
        a0, a1 = max(i0 - kh + 1 + ph, 0), min(i1 + ph, ho)
        # the transposed convolution of top rows [a0, a1) without row padding covers input
        # rows a0 - ph .. a1 - ph + kh - 2; row r of it is input row a0 - ph + r
        g = torch.nn.functional.conv_transpose2d(d[:, :, a0:a1], w, None, 1, (0, pw), 0, groups)
        off = a0 - ph
        out[:, :, i0:i1] = g[:, :, i0 - off : i1 - off]
    return out
