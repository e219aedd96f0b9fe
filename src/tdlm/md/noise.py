"""The Langevin step's N(0, 1) numbers: which generator draws which coordinates, on which thread.

The noise comes from the state's generator, so the trajectory is a pure function of
(position, velocity, generator state). A state of at most NOISE_CHUNK coordinates (and any
state on CUDA) draws one torch.randn over the whole buffer from it. A larger CPU state draws
each NOISE_CHUNK coordinates from a stream of its own, a generator seeded every step from the
state's generator: the CPU generator is serial (about 5 ns a number, half the time of the
step's matrix products at N = 10), so the streams are drawn by up to torch.get_num_threads()
workers at once. The streams are fixed by the state's size alone, so the trajectory does not
depend on the number of threads.
On the CPU the update runs over pieces of CPU_CHUNK coordinates (cache-sized: the update is
memory-bound, ~30% faster than whole-buffer passes at 10^6 coordinates); each piece holds whole
streams, so one worker can draw a piece's numbers just before the piece is updated.
overlap=True draws the whole step's numbers on a helper thread while the forces are computed
(the CPU generator is serial; this uses one more core than torch's threads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch

NOISES = ("gaussian", "uniform")  # N(0, 1) numbers, or uniform ones of unit variance (LAMMPS's fix langevin)
SQRT3 = 3.0**0.5  # U(-sqrt 3, sqrt 3) has unit variance
CPU_CHUNK = 1 << 19  # elements per piece of the CPU element-wise update (2 MiB per float32 buffer)
NOISE_CHUNK = 1 << 17  # elements per noise stream on the CPU (divides CPU_CHUNK: every piece holds whole streams)


def describe(kind: str) -> str:
    """The noise of `kind` in words, for the output's provenance (attribute `noise`)."""
    if kind == "uniform":
        return (
            "uniform numbers of unit variance ((k + 1/2) 2^-23 - 1) sqrt(3), k < 2^24; on the CPU k = the top 24 bits of "
            "SplitMix64's finalizer of key + (i + 1) 0x9E3779B97F4A7C15 for coordinate i (tdlm.md.native), one key per "
            "step drawn from torch's generator seeded with noise_seed; on CUDA torch's uniform numbers from that generator"
        )
    return (
        f"N(0, 1) from torch's generator seeded with noise_seed; on the CPU a state of more than {NOISE_CHUNK} "
        f"coordinates draws each piece of {NOISE_CHUNK} from its own generator, reseeded every step from the main "
        "one (independent of the number of threads)"
    )


def pieces_of(n: int, device: torch.device, size: int) -> list[slice]:
    """Consecutive slices of `size` elements on the CPU (the last one takes a remainder under 16),
    one slice on CUDA; a pure function of (n, device, size)."""
    size = size if device.type == "cpu" else max(n, 1)
    bounds = list(range(0, n, size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < 16:
        bounds.pop(-2)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


class NoiseSource:
    """Each step's N(0, 1) numbers for a state shaped like `like`, and the pieces of its update.

    `buffer` holds the numbers: the whole step's where they are drawn ahead (overlap, several
    workers) or the update is one piece, else one piece's at a time (saves a state-sized buffer).
    It doubles as scratch space, so with draws=False (T = 0) it is only that.
    `workers` (default torch.get_num_threads()) caps the threads that draw the streams.
    `kind` "uniform" draws U(-sqrt 3, sqrt 3) numbers instead of N(0, 1) ones (the CUDA uniform noise);
    `pool` keeps the workers for `for_pieces` even when nothing is drawn (the CPU's fused uniform update).
    """

    def __init__(
        self,
        like: torch.Tensor,
        *,
        draws: bool = True,
        workers: int | None = None,
        overlap: bool = False,
        kind: str = "gaussian",
        pool: bool = False,
    ):
        n = like.numel()
        self.kind = kind
        self.pieces = pieces_of(n, like.device, CPU_CHUNK)
        self._stream_slices = pieces_of(n, like.device, NOISE_CHUNK)
        many = len(self._stream_slices) > 1 and draws
        self._streams = [torch.Generator(device=like.device) for _ in self._stream_slices] if many else None
        self._piece_streams = [
            [j for j, st in enumerate(self._stream_slices) if p.start <= st.start < p.stop] for p in self.pieces
        ]
        n_workers = min(workers or torch.get_num_threads(), len(self._stream_slices)) if many or pool else 1
        self._workers = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="tdlm-noise") if n_workers > 1 else None
        self._overlap = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdlm-overlap") if overlap else None
        self._whole = overlap or (self._workers is not None and many) or len(self.pieces) == 1
        n_buffer = n if self._whole else max(p.stop - p.start for p in self.pieces)
        self.buffer = torch.empty(n_buffer, dtype=like.dtype, device=like.device)

    def _generators(self, rng: torch.Generator) -> list[torch.Generator]:
        """This step's generator of each stream: the state's own for a lone stream, else the
        streams' generators seeded from it (one draw of len(streams) integers per step)."""
        if self._streams is None:
            return [rng] * len(self._stream_slices)
        seeds = torch.randint(0, 1 << 62, (len(self._streams),), generator=rng, device=rng.device)
        for stream, seed in zip(self._streams, seeds.tolist()):
            stream.manual_seed(seed)
        return self._streams

    def _draw_streams(self, gens: list[torch.Generator], streams: list[int], buffer: torch.Tensor, offset: int) -> None:
        """N(0, 1) numbers of the given streams into `buffer`, whose element 0 is coordinate `offset`."""
        for j in streams:
            st = self._stream_slices[j]
            xi = buffer[st.start - offset : st.stop - offset]
            if self.kind == "uniform":
                xi.uniform_(-SQRT3, SQRT3, generator=gens[j])
            else:
                torch.randn(xi.shape, generator=gens[j], out=xi, dtype=xi.dtype, device=xi.device)

    def for_pieces(self, update: Callable[[slice], None]) -> None:
        """update(piece) for every piece of the update, on the workers where there are several."""
        if self._workers is not None and len(self.pieces) > 1:
            list(self._workers.map(update, self.pieces))
        else:
            for piece in self.pieces:
                update(piece)

    def draw(self, rng: torch.Generator, out: torch.Tensor | None = None) -> None:
        """One step's numbers of every stream into `out` (state-sized; default `buffer` where it is
        state-sized), streams in parallel when there are workers."""
        out = self.buffer if out is None else out
        gens = self._generators(rng)
        everything = range(len(self._stream_slices))
        if self._workers is not None:
            list(self._workers.map(lambda j: self._draw_streams(gens, [j], out, 0), everything))
        else:
            self._draw_streams(gens, list(everything), out, 0)

    @property
    def overlaps(self) -> bool:
        """Whether the helper thread of overlap=True is there (until close)."""
        return self._overlap is not None

    @contextmanager
    def drawing_meanwhile(self, rng: torch.Generator) -> Iterator[None]:
        """Draw the step's numbers into `buffer` on the helper thread (overlap=True) while the body runs."""
        pending = self._overlap.submit(self.draw, rng)
        try:
            yield
        finally:
            pending.result()  # the generator is never left mid-draw

    def step_pieces(self, rng: torch.Generator | None) -> Iterator[tuple[slice, torch.Tensor]]:
        """(piece, its numbers) for each piece of the update, drawn from `rng`'s step: all up front where
        `buffer` is state-sized, else each piece's as it is reached. rng None: nothing is drawn (T = 0,
        or drawn already), the numbers are whatever `buffer` holds."""
        gens = None
        if rng is not None:
            if self._whole:
                self.draw(rng)
            else:
                gens = self._generators(rng)
        for piece, streams in zip(self.pieces, self._piece_streams):
            xi = self.buffer[piece] if self._whole else self.buffer[: piece.stop - piece.start]
            if gens is not None:
                self._draw_streams(gens, streams, xi, piece.start)
            yield piece, xi

    def close(self) -> None:
        """Release the worker and helper threads (also done when the source is collected)."""
        for name in ("_overlap", "_workers"):
            pool = getattr(self, name, None)
            if pool is not None:
                pool.shutdown(wait=True)
                setattr(self, name, None)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise while being collected
            pass
