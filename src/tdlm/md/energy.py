"""The machine's Hamiltonian H = sum_l ||S_l - tanh(J_l S_{l-1})|| and its analytic gradient.

The layer energy is a Euclidean norm, not a squared loss, so dE_l/dx = r . dr/dx / E_l has
O(1) magnitude in every layer; a layer with zero residual exerts no force (guarded division).
The inputs S_0 and labels S_L are boundary conditions shared by all replicas of a sample,
so the first layer's product is one matrix product over every replica at once.

`ForceField` is the fast path used by the integrator: it owns preallocated per-layer
buffers, so a force evaluation allocates nothing of the size of the state, and it makes
the few layout choices that keep the matrix products efficient (see its docstring).
`gradient` is the functional form; it reuses one ForceField per (layout, dtype, device)
held by the Boundary (its `force_fields` cache), so repeated calls are as fast as calling the ForceField.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from tdlm.md.layout import Layout
from tdlm.md.native import library, transpose_into

# A layer uses the "transposed" working layout (feature-major, (N_l, M) per configuration) on
# the CPU when its widths are at most this: BLAS is several times faster when the output of a
# product with a tiny inner dimension is long along its contiguous axis (MKL, 8 replicas:
# (2000 x 10) @ (10 x 10) takes 0.55 ms written (M, N), 0.08 ms written (N, M)), which outweighs
# the two strided passes the layout costs per layer up to N ~ 11 (measured forces at M = 2000,
# K = 8: N = 10 24.5 vs 32.0 ms, N = 12 28.5 vs 26.1 ms, N = 16 35.5 vs 32.7 ms).
TRANSPOSE_MAX_WIDTH = 10


@dataclass(frozen=True)
class Boundary:
    """Quenched disorder of a job: per-sample inputs and labels, and the force fields built on them.

    `force_fields` is `force_field`'s cache, one ForceField per (layout, dtype, device, fused): it lives as
    long as the Boundary (the buffers are built once per job phase, not per call) and takes no part in
    comparisons. The tensors may be changed in place between calls (a ForceField holds no copy of them).
    """

    x: torch.Tensor  # (S, M, N_0) training inputs, +/-1
    y: torch.Tensor  # (S, M, N_L) one-hot +/-1 labels
    force_fields: dict[tuple, ForceField] = field(default_factory=dict, init=False, repr=False, compare=False)


def _first_layer_preactivation(x: torch.Tensor, J1: torch.Tensor) -> torch.Tensor:
    """(S, K, M, N_1): one product X_s @ [J_1 of all K replicas]^T per sample."""
    S, K, n_out, n_in = J1.shape
    a = torch.bmm(x, J1.reshape(S, K * n_out, n_in).transpose(1, 2))  # (S, M, K*N_1)
    return a.view(S, x.shape[1], K, n_out).permute(0, 2, 1, 3)


def layer_energies(flat: torch.Tensor, layout: Layout, boundary: Boundary) -> torch.Tensor:
    """E_l for l = 1..L, shape (S, K, L); differentiable, used for observables."""
    J = layout.weights(flat)
    spins = layout.spins(flat)
    below = _first_layer_preactivation(boundary.x, J[0])
    energies = []
    for l in range(1, layout.L + 1):
        pre = below if l == 1 else spins[l - 2] @ J[l - 1].transpose(-1, -2)
        if layout.gain(l) != 1.0:  # fan_in: J S / sqrt(N_{l-1})
            pre = pre * layout.gain(l)
        target = spins[l - 1] if l < layout.L else boundary.y.unsqueeze(1)
        residual = target - torch.tanh(pre)
        energies.append(residual.square().sum(dim=(-2, -1)).sqrt())
    return torch.stack(energies, dim=-1)


def default_transposed(layout: Layout, device: torch.device | str) -> tuple[bool, ...]:
    """The working layout of each layer l = 1..L (True: feature-major), a pure function of the shapes.

    Layer 1 is always feature-major: its pre-activation J_1 X^T of all replicas and dE/dJ_1
    = G X are then single products straight into the force buffer. The other layers are
    feature-major on the CPU when both their widths are small (TRANSPOSE_MAX_WIDTH).
    """
    cpu = torch.device(device).type == "cpu"
    w = layout.widths
    return (True,) + tuple(cpu and max(w[l], w[l - 1]) <= TRANSPOSE_MAX_WIDTH for l in range(2, layout.L + 1))


def fused_available(dtype: torch.dtype, device: torch.device | str) -> bool:
    """Whether ForceField(fused=True) runs its compiled pass here: float32 on the CPU with tdlm.md.native's library."""
    return dtype == torch.float32 and torch.device(device).type == "cpu" and library() is not None


def fused_spin_major(layout: Layout, dtype: torch.dtype, device: torch.device | str) -> tuple[bool, ...]:
    """`Layout.spin_major` for a fused ForceField: S_l stored the way layer l works (default_transposed), so
    that its force pass reads and writes the spins without a transposing copy; none where it cannot run."""
    if not fused_available(dtype, device):
        return ()
    return default_transposed(layout, device)[: layout.L - 1]


class ForceField:
    """dH/dx and the layer energies of every configuration of a job, with preallocated buffers.

    `ff(flat, out)` writes dH/dx into `out` (same layout as `flat`) and returns E_l, shape
    (S, K, L). Built once per job phase (the Integrator calls it every step).

    Per layer, the work is three matrix products (pre-activation, dE/dJ_l, the part of
    dE/dS_{l-1} that comes from layer l; two for layer 1, whose S_0 is fixed) and a handful
    of in-place element-wise passes over two reused buffers:

      tanh(a) = 2 sigmoid(2a) - 1, with the factor 2 applied to the small J (exact), so that
      s = sigmoid(2a) is computed in place; r = (S_l + 1) - 2 s; E_l = ||r||;
      dE_l/dS_l = r / E_l;  dE_l/da = -(1 - tanh^2) r / E_l = -4 s (1 - s) r / E_l, where the
      scalar -4 / E_l is folded into the small J (and into dE/dJ_l, an N_l x N_{l-1} matrix).
      With `preactivation: fan_in` a = g_l J_l S_{l-1} (g_l = 1/sqrt(N_{l-1}), layout.gain): g_l
      joins both scalars (2 g_l J in the product, -4 g_l / E_l in the derivatives), nothing else
      changes, so the compiled pass of fused=True serves both choices.

    Layers in the feature-major layout (`transposed`, default `default_transposed`) keep
    their buffers as (N_l, M) per configuration; the transposition costs one copy when the
    residual is formed and one when dE/dS is written out (on the CPU a compiled tiled copy,
    `tdlm.md.native.transpose_into`, 4-5x faster than torch's strided copy, the same numbers). The choice is a pure
    function of the shapes and the device, so results are bit-reproducible.

    fused=True (the `noise: uniform` step; float32 on the CPU with tdlm.md.native's library, else
    ignored): everything of a layer between its products (sigmoid, residual, E_l, s(1-s)r, dE/dS_l, the
    scaled J's) is one compiled call (tdlm.md.native's tdlm_layer_forces, arguments planned once per pair
    of buffers: `_fused_plan`), with the rounding of its polynomial e^x instead of torch's sigmoid. Only
    this path accepts a layout whose spins are stored feature-major (`Layout.spin_major`, as
    `fused_spin_major` chooses them: the layers' own working layout), and then it reads each target and
    writes each dE/dS_l in place, with no transposing copy.

    E_l -> 0: 1/E_l is taken of max(E_l, sqrt(tiny)); when E_l = 0 the residual is exactly
    zero, so every force term of the layer is exactly zero.
    """

    def __init__(
        self,
        layout: Layout,
        boundary: Boundary,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        transposed: bool | Sequence[bool] | None = None,
        fused: bool = False,
    ):
        self.layout = layout
        self.boundary = boundary
        self.dtype = dtype if dtype is not None else boundary.x.dtype
        self.device = torch.device(device) if device is not None else boundary.x.device
        S, K, M, L, w = layout.S, layout.K, layout.M, layout.L, layout.widths
        if tuple(boundary.x.shape) != (S, M, w[0]) or tuple(boundary.y.shape) != (S, M, w[L]):
            raise ValueError(
                f"boundary shapes x {tuple(boundary.x.shape)}, y {tuple(boundary.y.shape)} do not match the layout "
                f"(S={S}, M={M}, N_0={w[0]}, N_L={w[L]})"
            )
        if transposed is None:
            transposed = default_transposed(layout, self.device)
        elif isinstance(transposed, bool):
            transposed = (True,) + (transposed,) * (L - 1)
        transposed = tuple(bool(t) for t in transposed)
        if len(transposed) != L or not transposed[0]:
            raise ValueError(
                f"transposed: need {L} flags with the first True (layer 1 is always feature-major), got {transposed}"
            )
        self.transposed = transposed
        self._floor = torch.finfo(self.dtype).tiny ** 0.5
        big = S * K * M * max(w[1:])
        kw = {"dtype": self.dtype, "device": self.device}
        self._a = torch.empty(big, **kw)  # pre-activation -> s -> s(1-s) r
        self._r = torch.empty(big, **kw)  # residual
        # dE/dS_{l-1} from a feature-major layer l, held until layer l-1 adds its own part
        self._b = torch.empty(S * K * M * max(w[1:L]), **kw) if L > 1 else None
        self._j = torch.empty(S * K * max(w[l] * w[l - 1] for l in range(1, L + 1)), **kw)  # scaled J
        self._inv = torch.empty(S * K, **kw)
        self._c = torch.empty(S * K, **kw)
        # per layer, 0-d tensors (cheaper than Python scalars with out=): 2 g_l and -4 g_l with g_l the
        # pre-activation's gain (layout.gain: 1, or 1/sqrt(N_{l-1}) with fan_in; with 1 both are exact)
        self._twice = [torch.tensor(2.0 * g, **kw) for g in layout.gains]
        self._minus4 = [torch.tensor(-4.0 * g, **kw) for g in layout.gains]
        self._floor_t = torch.tensor(self._floor, **kw)
        # fused: each layer's element-wise work in one compiled pass (float32 CPU, with the C library)
        self.fused = bool(fused) and fused_available(self.dtype, self.device)
        if layout.spin_major and (not self.fused or layout.spin_major != transposed[: L - 1]):
            raise ValueError(
                f"spin_major {layout.spin_major}: feature-major spin blocks need the fused CPU pass (fused=True, "
                f"float32, a C compiler) and layers that work feature-major, {transposed[: L - 1]}"
            )
        if self.fused:  # the target of a feature-major layer, the next layer's 2 g J, each layer's c, E_l
            self._t = torch.empty(big, **kw)
            self._j2 = torch.empty_like(self._j)
            self._cs = torch.empty(L, S * K, **kw)
            self._e = torch.empty(L, S * K, **kw)
        self._views_key: tuple | None = None
        self._views: tuple | None = None
        self._plan: list = []  # fused=True: _fused_plan of the current buffers

    def _blocks(self, flat: torch.Tensor, out: torch.Tensor) -> tuple:
        key = (id(flat), flat.data_ptr(), id(out), out.data_ptr())
        if key != self._views_key:
            n = self.layout.total
            if flat.numel() != n or out.numel() != n:
                raise ValueError(f"flat buffers need {n} elements, got {flat.numel()} and {out.numel()}")
            lay = self.layout
            self._views = (lay.weights(flat), lay.spins(flat), lay.weights(out), lay.spins(out))
            self._views_key = key
            self._plan = []
        return self._views

    def _layer(self, l: int, J: list[torch.Tensor], spins: list[torch.Tensor]) -> tuple:
        """Layer l's widths, layout flag and working views: a (pre-activation buffer), J_l, the
        scaled-J buffer and S_{l-1} (None for l = 1, whose input is the boundary's x)."""
        lay = self.layout
        SK, M = lay.S * lay.K, lay.M
        n_out, n_in = lay.widths[l], lay.widths[l - 1]
        tr = self.transposed[l - 1]
        a = self._a[: SK * M * n_out].view((SK, n_out, M) if tr else (SK, M, n_out))
        Jl = J[l - 1].view(SK, n_out, n_in)
        js = self._j[: SK * n_out * n_in].view(SK, n_out, n_in)
        below = spins[l - 2].view(SK, M, n_in) if l >= 2 else None
        return n_out, n_in, tr, a, Jl, js, below

    def _preactivation(self, l: int, tr: bool, js: torch.Tensor, below: torch.Tensor | None, a: torch.Tensor) -> None:
        """a = js S_{l-1}^T (feature-major) or S_{l-1} js^T; for layer 1 one product per sample."""
        if l == 1:
            S = self.layout.S
            torch.bmm(js.view(S, -1, js.shape[-1]), self.boundary.x.transpose(1, 2), out=a.view(S, -1, self.layout.M))
        elif tr:
            torch.bmm(js, below.transpose(1, 2), out=a)
        else:
            torch.bmm(below, js.transpose(1, 2), out=a)

    def _weight_product(self, l: int, tr: bool, g: torch.Tensor, below: torch.Tensor | None, dJl: torch.Tensor) -> None:
        """dJ_l = g^T S_{l-1} (unscaled), written into the force buffer of J_l."""
        if l == 1:
            S = self.layout.S
            torch.bmm(g.view(S, -1, self.layout.M), self.boundary.x, out=dJl.view(S, -1, dJl.shape[-1]))
        else:
            torch.bmm(g if tr else g.transpose(1, 2), below, out=dJl)

    def _input_product(self, tr: bool, js: torch.Tensor, g: torch.Tensor, dS_below: torch.Tensor) -> None:
        """Layer l's part of dE/dS_{l-1}, g js: into _b (feature-major) or straight into the force buffer."""
        if tr:
            SK, n_in, M = g.shape[0], js.shape[-1], self.layout.M
            torch.bmm(js.transpose(1, 2), g, out=self._b[: SK * M * n_in].view(SK, n_in, M))
        else:
            torch.bmm(g, js, out=dS_below)

    def _residual(self, l: int, tr: bool, a: torch.Tensor, r: torch.Tensor, spins: list, e: torch.Tensor) -> None:
        """s = sigmoid(a) in a (tanh(pre) = 2 s - 1), the residual r = (target + 1) - 2 s and E_l = ||r|| into e."""
        lay = self.layout
        S, K, M, SK = lay.S, lay.K, lay.M, lay.S * lay.K
        a.sigmoid_()
        if l < lay.L:
            target = spins[l - 1].view(SK, M, lay.widths[l])
            if tr:  # the transposed target into r first: a tiled copy, then a contiguous pass (same numbers)
                transpose_into(r, target)
                torch.sub(r, a, alpha=2.0, out=r)
            else:
                torch.sub(target, a, alpha=2.0, out=r)
        else:
            y = self.boundary.y
            yt = y.transpose(1, 2) if tr else y  # (S, *, M) or (S, M, *), shared by the K configurations
            torch.sub(yt.unsqueeze(1), a.view(S, K, *a.shape[1:]), alpha=2.0, out=r.view(S, K, *a.shape[1:]))
        r.add_(1.0)
        torch.linalg.vector_norm(r, dim=(-2, -1), out=e)

    def _fused_plan(self, flat: torch.Tensor, out: torch.Tensor) -> list[tuple]:
        """Per layer l = L..1 of fused=True: the three products' operands and the arguments of the one
        compiled call between them (tdlm_layer_forces), built once per pair of buffers, so that a force
        call dispatches 3 products and 1 call per layer and builds no views.

        A spin block stored feature-major (`Layout.spin_major`) is read as it is: the call takes the target
        without a transposing copy, and the products write dE/dS_{l-1} straight into its force block."""
        self._blocks(flat, out)
        if self._plan:
            return self._plan
        lay = self.layout
        S, K, M, L, SK = lay.S, lay.K, lay.M, lay.L, lay.S * lay.K
        J, dJ = lay.weights(flat), lay.weights(out)
        spins, dS = lay.stored_blocks(flat)[L:], lay.stored_blocks(out)[L:]
        ptr = lambda t: t.data_ptr() if t is not None else 0  # noqa: E731
        y = self.boundary.y
        labels = y if y.is_contiguous() else y.contiguous()  # a copy is refreshed every call
        plan = []
        for l in range(L, 0, -1):
            n_out, n_in, tr, a, Jl, js, _ = self._layer(l, J, spins)
            pre = self._j2[: js.numel()].view(js.shape)  # 2 g_l J_l, made by layer l + 1's call
            r = self._r[: a.numel()].view(a.shape)
            fm_out = l < L and lay.feature_major(l)
            if l == 1:
                products = [(pre.view(S, -1, n_in), self.boundary.x.transpose(1, 2), a.view(S, -1, M))]
                products.append((a.view(S, -1, M), self.boundary.x, dJ[0].view(S, -1, n_in)))
            else:
                fm_in = lay.feature_major(l - 1)
                stored = spins[l - 2].view((SK, n_in, M) if fm_in else (SK, M, n_in))
                below = stored.transpose(1, 2) if fm_in else stored  # (SK, M, n_in)
                dJl = dJ[l - 1].view(SK, n_out, n_in)
                products = [(pre, below.transpose(1, 2), a) if tr else (below, pre.transpose(1, 2), a)]
                products.append((a if tr else a.transpose(1, 2), below, dJl))
                if fm_in:  # dE/dS_{l-1} (n_in, M) = (c J_l)^T g, into the force block as it is stored
                    products.append((js.transpose(1, 2), a if tr else a.transpose(1, 2), dS[l - 2].view(SK, n_in, M)))
                elif tr:  # feature-major into _b; layer l - 1's call transposes it into the force block
                    products.append((js.transpose(1, 2), a, self._b[: SK * M * n_in].view(SK, n_in, M)))
                else:
                    products.append((a, js, dS[l - 2].view(SK, M, n_in)))
            target, kdiv = (spins[l - 1], 1) if l < L else (labels, K)
            # dE/dS_l = base + r inv: 4 (base in d, r in d's order) where S_l is stored as layer l works
            mode = 0 if l == L else 4 if fm_out else 1 + 2 * (not self.transposed[l]) + (not tr)
            nxt = J[l - 2] if l > 1 else None
            call = (
                *(a.data_ptr(), r.data_ptr(), target.data_ptr(), self._t.data_ptr(), SK, n_out, M, kdiv, int(tr and not fm_out)),
                *(self._e[l - 1].data_ptr(), self._floor, float(self._minus4[l - 1]), self._inv.data_ptr()),
                *(self._cs[l - 1].data_ptr(), ptr(dS[l - 1]) if l < L else 0, self._b.data_ptr() if l < L else 0, mode),
                *(Jl.data_ptr(), js.data_ptr(), n_out * n_in if l > 1 else 0, float(self._twice[l - 2]) if l > 1 else 0.0),
                *(ptr(nxt), self._j2.data_ptr(), nxt.numel() // SK if l > 1 else 0),
                *(ptr(dJ[l]) if l < L else 0, self._cs[l].data_ptr() if l < L else 0, dJ[l].numel() // SK if l < L else 0),
            )
            plan.append((products, call))
        first = (J[L - 1].view(SK, -1), self._twice[L - 1], self._j2[: J[L - 1].numel()].view(SK, -1))
        last = (dJ[0].view(SK, -1), self._cs[0].view(SK, 1))
        self._plan = [first, plan, last, labels]
        return self._plan

    def _fused_call(self, flat: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """fused=True: per layer the pre-activation product, one compiled call (sigmoid, residual, E_l,
        s (1 - s) r, 1/E_l, dE/dS_l, the scaled J of the next products, the scaling of dJ_{l+1}; see
        tdlm.md.native's tdlm_layer_forces), dE/dJ_l and dE/dS_{l-1}; the same operations as the
        unfused path but for the rounding of the compiled sigmoid."""
        (J_L, twice, pre_L), plan, (dJ1, c1), labels = self._fused_plan(flat, out)
        if labels is not self.boundary.y:
            labels.copy_(self.boundary.y)
        lib = library()
        torch.mul(J_L, twice, out=pre_L)
        for products, call in plan:
            torch.bmm(*products[0][:2], out=products[0][2])
            lib.tdlm_layer_forces(*call)
            for A, B, C in products[1:]:
                torch.bmm(A, B, out=C)
        dJ1.mul_(c1)
        lay = self.layout
        return self._e.view(lay.L, lay.S, lay.K).permute(1, 2, 0).clone(memory_format=torch.contiguous_format)

    def __call__(self, flat: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        lay = self.layout
        S, K, M, L = lay.S, lay.K, lay.M, lay.L
        SK = S * K
        if self.fused:
            return self._fused_call(flat, out)
        J, spins, dJ, dS = self._blocks(flat, out)
        energies = torch.empty(L, SK, dtype=self.dtype, device=self.device)
        inv, c = self._inv, self._c
        inv_v = inv.view(SK, 1, 1)
        c_v = c.view(SK, 1, 1)
        for l in range(L, 0, -1):
            n_out, n_in, tr, a, Jl, js, below = self._layer(l, J, spins)
            shape = a.shape
            r = self._r[: a.numel()].view(shape)

            # pre-activation, times 2: a = 2 g_l J_l S_{l-1}^T (feature-major) or 2 g_l S_{l-1} J_l^T
            torch.mul(Jl, self._twice[l - 1], out=js)
            self._preactivation(l, tr, js, below, a)
            e = energies[l - 1]
            self._residual(l, tr, a, r, spins, e)
            torch.maximum(e, self._floor_t, out=inv)
            inv.reciprocal_()

            # dE/dS_l = r / E_l, added to the part layer l + 1 has left (in _b if feature-major, else in `out`)
            if l < L:
                dS_l = dS[l - 1].view(SK, M, n_out)
                if self.transposed[l]:  # layer l + 1 left its part feature-major in _b
                    b = self._b[: SK * M * n_out].view(SK, n_out, M)
                    if tr:
                        b.addcmul_(r, inv_v)
                        transpose_into(dS_l, b)
                    else:
                        transpose_into(dS_l, b)
                        dS_l.addcmul_(r, inv_v)
                elif tr:  # r transposed into _b (free until layer l's own input product)
                    rt = self._b[: SK * M * n_out].view(SK, M, n_out)
                    transpose_into(rt, r)
                    dS_l.addcmul_(rt, inv_v)
                else:
                    dS_l.addcmul_(r, inv_v)

            # g = dE_l/d(J S) = c s (1 - s) r with c = -4 g_l / E_l
            torch.addcmul(a, a, a, value=-1.0, out=a)
            a.mul_(r)
            torch.mul(inv, self._minus4[l - 1], out=c)

            # dE/dJ_l = c (s(1-s)r)^T S_{l-1}
            dJl = dJ[l - 1].view(SK, n_out, n_in)
            self._weight_product(l, tr, a, below, dJl)
            dJl.mul_(c_v)
            if l == 1:
                continue

            # the part of dE/dS_{l-1} from layer l: (s(1-s)r) (c J_l), the first write to it
            torch.mul(Jl, c_v, out=js)
            self._input_product(tr, js, a, dS[l - 2].view(SK, M, n_in))
        return energies.view(L, S, K).permute(1, 2, 0).contiguous()


def force_field(
    layout: Layout,
    boundary: Boundary,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    fused: bool = False,
) -> ForceField:
    """The ForceField of (layout, dtype, device, fused) in `boundary.force_fields` (built on first use)."""
    dtype = dtype if dtype is not None else boundary.x.dtype
    device = torch.device(device) if device is not None else boundary.x.device
    key = (layout, dtype, device, fused)
    ff = boundary.force_fields.get(key)
    if ff is None:
        ff = boundary.force_fields[key] = ForceField(layout, boundary, dtype, device, fused=fused)
    return ff


def gradient(flat: torch.Tensor, layout: Layout, boundary: Boundary, out: torch.Tensor) -> torch.Tensor:
    """Write dH/dx into `out` (same layout as `flat`) and return E_l, shape (S, K, L).

    Three matrix products per layer (two for layer 1): the pre-activation, dE/dJ_l and the
    back-propagated dE/dS_{l-1}; the work buffers are those of the ForceField cached on
    `boundary` (see `force_field`), so nothing of the state's size is allocated per call.
    """
    return force_field(layout, boundary, flat.dtype, flat.device)(flat, out)
