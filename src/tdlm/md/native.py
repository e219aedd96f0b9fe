"""Compiled CPU passes: the update of the `uniform` noise (a counter-based generator) and the transposes.

On the CPU the Gaussian step is bounded by torch's serial generator (~3.4 ns a normal number, half the
step's matrix products) and by eight eager passes over the state. With `noise: uniform` (LAMMPS's
`fix langevin` choice: uniform numbers of unit variance) the numbers are a pure function of
(step key, coordinate index), SplitMix64's finalizer applied to a Weyl sequence, so they can be made
inside the update itself: friction, force, noise, drift and walls are one pass over (x, v, g) in C,
compiled once per host with the system's C compiler (`$CC`, else `cc`; kept in ~/.cache/tdlm) and called through ctypes
(which releases the GIL, so pieces can run on several threads). The same library holds a tiled batched
transpose, an exact copy that the ForceField's feature-major layers use in place of torch's strided copy,
and, for the uniform noise's step (ForceField(fused=True)), each layer's element-wise force work in one
call between its products (tdlm_layer_forces: sigmoid through a vectorized polynomial e^x, residual,
its norm, s (1 - s) r, 1 / E_l, dE/dS_l, the scaled J's): about a dozen torch operations in one, to
~2e-7 of the float64 forces like torch's own float32 path. That call has no torch twin, so a uniform-noise run without a compiler follows torch's rounding of
the forces (the same physics, not the same bits).

Every float operation of the update is one IEEE single-precision operation in a fixed order, compiled
with -ffp-contract=off (no fused multiply-add), and `langevin_uniform_torch` does the same operations
with torch, so the update is the same bit for bit with or without a compiler (tested); without one, or
with TDLM_NATIVE=0, the torch version runs (much slower: ~15 integer passes per piece).

The numbers: k = the top 24 bits of mix64(key + (i + 1) * golden), for coordinate i of the state;
xi = ((k + 1/2) - 2^23) * 2^-23 * sqrt(3), symmetric about 0 with variance 1 - 4^-24.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

log = logging.getLogger("tdlm")

GOLDEN = 0x9E3779B97F4A7C15  # the Weyl increment of SplitMix64
MIX1, MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # SplitMix64's finalizer
HALF_RANGE = 8388607.5  # 2^23 - 1/2: (k + 1/2) - 2^23 = k - HALF_RANGE, exact in float32
UNIFORM_SCALE = 3.0**0.5 / 2.0**23  # times (k - HALF_RANGE): unit variance
CFLAGS = ("-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-fPIC", "-shared")

SOURCE = r"""
#include <math.h>
#include <stdint.h>

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* out (K, Q, P) = in (K, P, Q) transposed per k, both contiguous, in tiles that stay in L1 (an exact
   copy: 4-5x faster than torch's strided copy of the same batched transpose). */
#define TRANSPOSE(NAME, T)                                                                              \
    void NAME(T *restrict out, const T *restrict in, int64_t K, int64_t P, int64_t Q) {                 \
        const int64_t B = 32;                                                                           \
        for (int64_t k = 0; k < K; k++) {                                                               \
            const T *ik = in + k * P * Q;                                                               \
            T *ok = out + k * P * Q;                                                                    \
            for (int64_t q0 = 0; q0 < Q; q0 += B) {                                                     \
                int64_t q1 = q0 + B < Q ? q0 + B : Q;                                                   \
                for (int64_t p0 = 0; p0 < P; p0 += B) {                                                 \
                    int64_t p1 = p0 + B < P ? p0 + B : P;                                               \
                    for (int64_t q = q0; q < q1; q++)                                                   \
                        for (int64_t p = p0; p < p1; p++) ok[q * P + p] = ik[p * Q + q];                \
                }                                                                                       \
            }                                                                                           \
        }                                                                                               \
    }
TRANSPOSE(tdlm_transpose_f32, float)
TRANSPOSE(tdlm_transpose_f64, double)

/* e^x for |x| <= 87 to ~2 ulp (Cody-Waite reduction by ln 2, degree-6 Taylor polynomial in Horner form with
   fused multiply-adds), written so that the compiler vectorizes it (no libm call where the host has FMA). */
static inline float exp_f(float x) {
    x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
    float kf = floorf(fmaf(x, 1.44269504f, 0.5f));
    float r = fmaf(kf, -0.693359375f, x);
    r = fmaf(kf, 2.12194440e-4f, r);
    float p = 1.0f / 720.0f;
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    union { int32_t i; float f; } scale;
    scale.i = ((int32_t)kf + 127) << 23;
    return p * scale.f;
}

/* One layer's element-wise work of the forces in one pass, a and t (K, P) contiguous, t of
   configuration k at t + (k / kdiv) P: a holds 2 x the pre-activation; s = sigmoid(a),
   r = (t - 2 s) + 1, e_k = ||r_k|| (squares summed in 16 float lanes, then in double), a = (s - s s) r, with
   fused multiply-adds where they save an operation (about 15 % of the pass). */
static void layer_residual(float *restrict a, float *restrict r, const float *restrict t, int64_t K, int64_t P,
                           int64_t kdiv, float *restrict e) {
    for (int64_t k = 0; k < K; k++) {
        float *ak = a + k * P, *rk = r + k * P;
        const float *tk = t + (k / kdiv) * P;
        float lanes[16] = {0};
        int64_t q = 0;
        for (; q + 16 <= P; q += 16) {
            for (int j = 0; j < 16; j++) {
                float s = 1.0f / (1.0f + exp_f(-ak[q + j]));
                float rr = fmaf(-2.0f, s, tk[q + j]) + 1.0f;
                rk[q + j] = rr;
                lanes[j] = fmaf(rr, rr, lanes[j]);
                ak[q + j] = fmaf(-s, s, s) * rr;
            }
        }
        for (; q < P; q++) {
            float s = 1.0f / (1.0f + exp_f(-ak[q]));
            float rr = fmaf(-2.0f, s, tk[q]) + 1.0f;
            rk[q] = rr;
            lanes[0] = fmaf(rr, rr, lanes[0]);
            ak[q] = fmaf(-s, s, s) * rr;
        }
        double acc = 0.0;
        for (int j = 0; j < 16; j++) acc += lanes[j];
        e[k] = (float)sqrt(acc);
    }
}

/* d (K, M, n) = base + r inv_k, base = d itself or b^T (b (K, n, M)), r sample-major (K, M, n) or
   feature-major (K, n, M): the dE/dS of a layer's spins (tiles of 64 rows stay in L1). One fused
   multiply-add, as torch's vectorized addcmul_ rounds it. */
static void spin_force(float *d, const float *b, const float *r, const float *inv, int64_t K, int64_t M, int64_t n,
                       int b_feature_major, int r_feature_major) {
    for (int64_t k = 0; k < K; k++) {
        float iv = inv[k];
        float *dk = d + k * M * n;
        const float *rk = r + k * M * n, *bk = b_feature_major ? b + k * M * n : dk;
        if (!b_feature_major && !r_feature_major) {
            for (int64_t i = 0; i < M * n; i++) dk[i] = fmaf(rk[i], iv, dk[i]);
            continue;
        }
        for (int64_t m0 = 0; m0 < M; m0 += 64) {
            int64_t m1 = m0 + 64 < M ? m0 + 64 : M;
            for (int64_t j = 0; j < n; j++)
                for (int64_t m = m0; m < m1; m++) {
                    float base = b_feature_major ? bk[j * M + m] : dk[m * n + j];
                    float rr = r_feature_major ? rk[j * M + m] : rk[m * n + j];
                    dk[m * n + j] = fmaf(rr, iv, base);
                }
        }
    }
}

/* x (K, P) times s_k (a per-configuration scalar) into out (in place where out = x). */
static void scale_rows(float *out, const float *x, const float *s, int64_t K, int64_t P) {
    for (int64_t k = 0; k < K; k++)
        for (int64_t i = 0; i < P; i++) out[k * P + i] = x[k * P + i] * s[k];
}

/* Everything of layer l between its pre-activation product and its dE/dJ_l product
   (ForceField(fused=True)), one call instead of a dozen torch operations:
   - the target (K / kdiv, M, n) transposed into tbuf when the layer is feature-major (tr);
   - layer_residual: a -> s (1 - s) r, r, e;
   - inv = 1 / max(e, fl) (NaN kept, as torch.maximum), c = inv m4;
   - mode > 0 (l < L): dE/dS_l into d (K, M, n) = base + r inv, mode 1: base b^T, r feature-major;
     2: b^T, r sample-major; 3: d, r feature-major; 4: d, r in the order of d (sample-major, or both
     feature-major where S_l is stored so: Layout.spin_major) (b: dE/dS_l from layer l + 1);
   - nj > 0 (l > 1): js = c J_l (for the input product) and jsn = tw J_{l-1} (the next layer's pre-activation);
   - nup > 0 (l < L): dJ_{l+1} (its product done) times its c, cup.
   Past the sigmoid (its polynomial e^x and the fused multiply-adds of layer_residual), each value is the IEEE
   single operation of the torch path it replaces. */
void tdlm_layer_forces(float *a, float *r, const float *tgt, float *tbuf, int64_t K, int64_t n, int64_t M,
                       int64_t kdiv, int64_t tr, float *e, float fl, float m4, float *inv, float *c, float *d,
                       const float *b, int64_t mode, const float *J, float *js, int64_t nj, float tw, const float *Jn,
                       float *jsn, int64_t njn, float *dJup, const float *cup, int64_t nup) {
    const float *t = tgt;
    if (tr) {
        tdlm_transpose_f32(tbuf, tgt, K / kdiv, M, n);
        t = tbuf;
    }
    layer_residual(a, r, t, K, n * M, kdiv, e);
    for (int64_t k = 0; k < K; k++) {
        float m = e[k] != e[k] ? e[k] : (e[k] > fl ? e[k] : fl);
        inv[k] = 1.0f / m;
        c[k] = inv[k] * m4;
    }
    if (mode > 0) spin_force(d, b, r, inv, K, M, n, mode <= 2, mode == 1 || mode == 3);
    if (nj > 0) {
        scale_rows(js, J, c, K, nj);
        for (int64_t i = 0; i < K * njn; i++) jsn[i] = Jn[i] * tw;
    }
    if (nup > 0) scale_rows(dJup, dJup, cup, K, nup);
}

/* v = (v keep + g mdt) + (k - 2^23 + 1/2) c;  x = x + v dt;  walls: x -> 2 clamp(x) - x, v -> -v. */
void tdlm_langevin_uniform(float *restrict x, float *restrict v, const float *restrict g, int64_t n,
                           int64_t first, uint64_t key, float keep, float mdt, float c, float dt) {
    uint64_t w = key + (uint64_t)(first + 1) * 0x9E3779B97F4A7C15ULL; /* the Weyl sequence by additions */
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = mix64(w);
        w += 0x9E3779B97F4A7C15ULL;
        float u = (float)(int32_t)(z >> 40) - 8388607.5f;
        float vi = v[i] * keep;
        vi = vi + g[i] * mdt;
        vi = vi + u * c;
        float xi = x[i] + vi * dt;
        float cl = xi < -1.0f ? -1.0f : (xi > 1.0f ? 1.0f : xi);
        float xr = cl + (cl - xi);
        v[i] = xr != cl ? -vi : vi;
        x[i] = xr;
    }
}
"""


def _signed(u: int) -> int:
    """A 64-bit pattern as torch's int64 holds it."""
    return u - (1 << 64) if u >= 1 << 63 else u


def _shift_right(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's >> is arithmetic)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def uniform_numbers(first: int, n: int, key: int) -> torch.Tensor:
    """k - HALF_RANGE (float32) of coordinates first .. first + n - 1: the pass's numbers before scaling."""
    z = torch.arange(first + 1, first + n + 1, dtype=torch.int64).mul_(_signed(GOLDEN)).add_(_signed(key))
    z = (z ^ _shift_right(z, 30)).mul_(_signed(MIX1))
    z = (z ^ _shift_right(z, 27)).mul_(_signed(MIX2))
    z = z ^ _shift_right(z, 31)
    return _shift_right(z, 40).to(torch.float32).sub_(HALF_RANGE)


def langevin_uniform_torch(
    x: torch.Tensor, v: torch.Tensor, g: torch.Tensor, first: int, key: int, keep: float, mdt: float, c: float, dt: float
) -> None:
    """The compiled pass written with torch operations, bit for bit the same (the fallback and its test)."""
    k = functools.partial(torch.tensor, dtype=x.dtype)  # 0-d: each constant rounded to the state's dtype once
    v.mul_(k(keep)).add_(g * k(mdt)).add_(uniform_numbers(first, x.numel(), key).to(x.dtype).mul_(k(c)))
    x.add_(v * k(dt))
    clamped = x.clamp(-1.0, 1.0)
    x.copy_(clamped + (clamped - x))
    v.mul_(torch.where(x != clamped, -1.0, 1.0))


def _cpu_flags() -> str:
    """The host's instruction-set flags (the cache key of a -march=native build)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    """$TDLM_CACHE, else $XDG_CACHE_HOME/tdlm, else ~/.cache/tdlm."""
    if os.environ.get("TDLM_CACHE"):
        return Path(os.environ["TDLM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tdlm"


def _compile(cc: str, target: Path) -> str | None:
    """Build SOURCE into `target` (written atomically); the compiler's complaint if it fails."""
    with tempfile.TemporaryDirectory(prefix="tdlm-native-", dir=target.parent) as where:
        src, lib = os.path.join(where, "native.c"), os.path.join(where, "native.so")
        with open(src, "w") as f:
            f.write(SOURCE)
        base = [cc, *CFLAGS, src, "-o", lib, "-lm"]
        for flags in (["-march=native"], []):  # the host's vector units where the compiler knows them
            done = subprocess.run(base[:1] + flags + base[1:], capture_output=True, text=True)
            if done.returncode == 0:
                os.replace(lib, target)
                return None
        return done.stderr.strip()[-300:]


# tdlm_layer_forces(a, r, tgt, tbuf, K, n, M, kdiv, tr, e, fl, m4, inv, c, d, b, mode, J, js, nj, tw, Jn, jsn, njn,
# dJup, cup, nup): pointers as ints (0 for an unused one), see the C source
_P, _I, _F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
LAYER_FORCES_ARGS = [_P] * 4 + [_I] * 5 + [_P, _F, _F] + [_P] * 4 + [_I, _P, _P, _I, _F, _P, _P, _I, _P, _P, _I]


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled passes, built once per host into the cache folder (`_cache_dir`, keyed by the source,
    the compiler and the CPU's flags; a temporary folder where the cache is not writable); None without
    a C compiler (or with TDLM_NATIVE=0), and then the torch forms run."""
    if os.environ.get("TDLM_NATIVE", "1") == "0":
        return None
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        log.warning(
            "no C compiler found ($CC or cc): the CPU transposes and uniform update run as torch operations (same numbers, slower)"
        )
        return None
    key = hashlib.sha256("\0".join([SOURCE, os.path.realpath(cc), *CFLAGS, _cpu_flags()]).encode()).hexdigest()[:16]
    private = None
    try:
        folder = _cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"native-{key}.so"
        error = None if target.exists() else _compile(cc, target)
    except OSError:  # no writable cache: build for this process only
        private = tempfile.mkdtemp(prefix="tdlm-native-")
        target = Path(private) / "native.so"
        error = _compile(cc, target)
    try:
        if error is not None:
            log.warning("%s failed (%s): the CPU transposes and uniform update run as torch operations", cc, error)
            return None
        handle = ctypes.CDLL(str(target))  # stays mapped after a private build is removed
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
    fn = handle.tdlm_langevin_uniform
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 2 + [ctypes.c_uint64] + [ctypes.c_float] * 4
    fn = handle.tdlm_layer_forces
    fn.restype = None
    fn.argtypes = LAYER_FORCES_ARGS
    for name in ("tdlm_transpose_f32", "tdlm_transpose_f64"):
        fn = getattr(handle, name)
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int64] * 3
    return handle


TRANSPOSES = {torch.float32: "tdlm_transpose_f32", torch.float64: "tdlm_transpose_f64"}


def transpose_into(out: torch.Tensor, src: torch.Tensor) -> None:
    """out = src.transpose(1, 2) for 3-d tensors (out shaped (K, Q, P), src (K, P, Q)): compiled for
    contiguous CPU ones where it can, else torch's copy (an exact copy either way: same numbers)."""
    lib = library() if out.device.type == "cpu" else None
    name = TRANSPOSES.get(src.dtype)
    if lib is None or name is None or not (out.is_contiguous() and src.is_contiguous()) or out.dtype != src.dtype:
        out.copy_(src.transpose(1, 2))
        return
    K, P, Q = src.shape
    if tuple(out.shape) != (K, Q, P):
        raise ValueError(f"transpose_into: out {tuple(out.shape)} is not src {tuple(src.shape)} transposed")
    getattr(lib, name)(out.data_ptr(), src.data_ptr(), K, P, Q)


def langevin_uniform_(
    x: torch.Tensor, v: torch.Tensor, g: torch.Tensor, first: int, key: int, keep: float, mdt: float, c: float, dt: float
) -> None:
    """One piece of the update, in place: x, v, g contiguous CPU pieces whose element 0 is coordinate
    `first` of the state; `key` is the step's key. float32 runs compiled where it can, float64 with torch."""
    lib = library() if x.dtype == torch.float32 else None
    if lib is None:
        langevin_uniform_torch(x, v, g, first, key, keep, mdt, c, dt)
        return
    lib.tdlm_langevin_uniform(x.data_ptr(), v.data_ptr(), g.data_ptr(), x.numel(), first, key, keep, mdt, c, dt)
