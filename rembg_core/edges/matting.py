"""Closed-form alpha matting (Levin, Lischinski & Weiss 2008) solved only where the trimap is unknown,
one tile at a time.

For every 3×3 window that touches an unknown pixel, the matting Laplacian gets the window's 9×9 block
δij − (1 + (Ii − μ)ᵀ (Σ + ε/9·I)⁻¹ (Ij − μ)) / 9; the unknown alphas then solve L_UU α_U = −L_UK α_K
with the known alphas 1 (foreground) and 0 (background), as pymatting's `estimate_alpha_cf` (which
rembg uses) does over the whole image. Here the system is one tile plus a margin, assembled with
numpy straight into the unknowns' rows (each row has the 25 neighbours a 3×3 window pair can link,
so no sparse sort or slicing is needed) and solved by Jacobi-preconditioned conjugate gradients,
started from the half-scale solution. No JIT: importing pymatting (numba) costs 128 MB of RSS.
A small pull towards the model's own alpha (weight `PRIOR`) keeps an unknown region that no known
pixel reaches well posed instead of singular.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from PIL import Image
from scipy import ndimage

from .trimap import BACKGROUND, FOREGROUND, UNKNOWN

EPSILON = 1e-7  # pymatting's (and so rembg's) regularisation of the colour covariance
PRIOR = 1e-5  # weight of the model's alpha in unknown pixels; far below the Laplacian's entries
CG_RTOL, CG_MAXITER = 1e-3, 100
CASCADE_FROM = 1500  # unknowns above which a window starts from its half-scale solution
_WIN = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # a 3×3 window around its centre
_NEIGHBOURS = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]  # pixels two windows can link
_SELF = _NEIGHBOURS.index((0, 0))


def _window_centres(unknown: np.ndarray) -> np.ndarray:
    """Flat indices of the 3×3 window centres (away from the border) whose window holds an unknown."""
    touched = ndimage.binary_dilation(unknown, np.ones((3, 3), bool))
    touched[0, :] = touched[-1, :] = touched[:, 0] = touched[:, -1] = False
    return np.flatnonzero(touched)


def _inverse_sym3(c: np.ndarray) -> np.ndarray:
    """Inverses of symmetric 3×3 matrices (n, 3, 3) by cofactors: LAPACK's batched inverse makes one
    call per tiny matrix."""
    a, b, cc = c[:, 0, 0], c[:, 0, 1], c[:, 0, 2]
    d, e, f = c[:, 1, 1], c[:, 1, 2], c[:, 2, 2]
    i00, i01, i02 = d * f - e * e, cc * e - b * f, b * e - cc * d
    i11, i12, i22 = a * f - cc * cc, b * cc - a * e, a * d - b * b
    det = a * i00 + b * i01 + cc * i02
    inv = np.stack([i00, i01, i02, i01, i11, i12, i02, i12, i22], axis=1).reshape(-1, 3, 3)
    inv /= det[:, None, None]
    return inv


def window_blocks(image: np.ndarray, centres: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """(n, 9, 9) Laplacian blocks of the windows centred at `centres` (flat indices into `image`,
    h×w×3 uint8). float64, n windows: covariance inverses near flat colour need it. Plain ufuncs
    per channel, not matmul: a stack of tiny matrices would be one BLAS call each."""
    w = image.shape[1]
    flat = image.reshape(-1, 3)
    idx = centres[:, None] + np.array([dy * w + dx for dy, dx in _WIN])[None, :]
    colours = flat[idx].astype(np.float64) / 255.0  # (n, 9, 3)
    centred = colours - colours.mean(axis=1, keepdims=True)
    ch = [np.ascontiguousarray(centred[:, :, i]) for i in range(3)]  # (n, 9) per channel
    cov = np.empty((len(centres), 3, 3))
    for i in range(3):
        for j in range(i, 3):
            cov[:, i, j] = cov[:, j, i] = (ch[i] * ch[j]).sum(axis=1) / 9.0
    cov += (epsilon / 9.0) * np.eye(3)
    inv = _inverse_sym3(cov)
    values = np.ones((len(centres), 9, 9))
    for j in range(3):  # values += (centred · inv)[:, :, j] ⊗ centred[:, :, j], channel by channel
        t = ch[0] * inv[:, 0, j, None] + ch[1] * inv[:, 1, j, None] + ch[2] * inv[:, 2, j, None]
        values += t[:, :, None] * ch[j][:, None, :]
    values /= -9.0
    values += np.eye(9)
    return values


# for window position a and b, the slot of b in the 25-neighbour row of a
_PAIR_SLOT = np.array([[_NEIGHBOURS.index((by - ay, bx - ax)) for by, bx in _WIN] for ay, ax in _WIN])


def neighbour_rows(shape: tuple[int, int], centres: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """(h·w, 25) Laplacian rows: entry k of row p links p to p + _NEIGHBOURS[k]; one bincount sums
    every window's contributions."""
    h, w = shape
    pos = np.array([ay * w + ax for ay, ax in _WIN])
    target = (centres[:, None, None] + pos[None, :, None]) * len(_NEIGHBOURS) + _PAIR_SLOT[None, :, :]
    rows = np.bincount(target.ravel(), weights=blocks.ravel(), minlength=h * w * len(_NEIGHBOURS))
    return rows.reshape(h * w, len(_NEIGHBOURS))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum's own loop, not BLAS: a multithreaded BLAS dot on vectors this short spends its time
    # waking threads (18 ms a call on a loaded 2-core machine, against microseconds)
    return float(np.einsum("i,i->", a, b))


def _pcg(a: scipy.sparse.csr_matrix, b: np.ndarray, x: np.ndarray, inv_diag: np.ndarray) -> np.ndarray:
    """Jacobi-preconditioned conjugate gradients for the symmetric positive definite `a`."""
    r = b - a @ x
    z = inv_diag * r
    p = z.copy()
    rz = _dot(r, z)
    stop = (CG_RTOL * np.sqrt(_dot(b, b))) ** 2
    for _ in range(CG_MAXITER):
        if _dot(r, r) <= stop:
            break
        ap = a @ p
        step = rz / _dot(p, ap)
        x += step * p
        r -= step * ap
        z = inv_diag * r
        rz_next = _dot(r, z)
        p *= rz_next / rz
        p += z
        rz = rz_next
    return x


def _half(image: np.ndarray, trimap: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The window at half scale: box-reduced colours and prior; a coarse pixel is known only when all
    four of its fine pixels agree."""
    h, w = trimap.shape
    h2, w2 = h // 2 * 2, w // 2 * 2
    blocks = trimap[:h2, :w2].reshape(h2 // 2, 2, w2 // 2, 2)
    lo, hi = blocks.min(axis=(1, 3)), blocks.max(axis=(1, 3))
    tri = np.full(lo.shape, UNKNOWN, np.uint8)
    tri[lo == FOREGROUND] = FOREGROUND
    tri[hi == BACKGROUND] = BACKGROUND
    img = np.asarray(Image.fromarray(np.ascontiguousarray(image[:h2, :w2])).reduce(2))
    pri = np.asarray(Image.fromarray(np.ascontiguousarray(prior[:h2, :w2])).reduce(2))
    return img, tri, pri


def system(image: np.ndarray, trimap: np.ndarray, prior: np.ndarray
           ) -> tuple[scipy.sparse.csr_matrix, np.ndarray, np.ndarray]:
    """(L_UU + PRIOR·I, right-hand side, flat indices of the unknowns) of one window."""
    h, w = trimap.shape
    unknown = trimap.ravel() == UNKNOWN
    u = np.flatnonzero(unknown)
    centres = _window_centres(unknown.reshape(h, w))
    rows = neighbour_rows((h, w), centres, window_blocks(image, centres))[u]  # (n_u, 25)
    del centres
    offsets = np.array([dy * w + dx for dy, dx in _NEIGHBOURS])
    # entries past the frame are zero (no window reaches them), so clipping their index is harmless
    nb = np.clip(u[:, None] + offsets[None, :], 0, h * w - 1)
    slot = np.full(h * w, -1, np.int64)
    slot[u] = np.arange(len(u))
    col = slot[nb]
    known = col < 0
    fg = (trimap.ravel() == FOREGROUND)[nb]
    rhs = -(rows * (known & fg)).sum(axis=1) + PRIOR * prior.ravel()[u] / 255.0
    rows[known] = 0.0
    col[known] = np.arange(len(u)).repeat(known.sum(axis=1))  # zero entries parked on the diagonal
    rows[:, _SELF] += PRIOR
    n = len(u)
    indptr = np.arange(0, n * len(_NEIGHBOURS) + 1, len(_NEIGHBOURS))
    return scipy.sparse.csr_matrix((rows.ravel(), col.ravel(), indptr), shape=(n, n)), rhs, u


def solve_window(image: np.ndarray, trimap: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Alpha (float32, h×w) of one window: known pixels keep 0/1, unknown ones are solved.

    `image` is h×w×3 uint8, `trimap` h×w uint8 (0/128/255), `prior` h×w uint8 (the model's alpha)."""
    unknown = trimap == UNKNOWN
    alpha = (trimap == FOREGROUND).astype(np.float32)
    if not unknown.any():
        return alpha
    if min(trimap.shape) < 3:
        alpha[unknown] = prior[unknown] / 255.0
        return alpha
    l_uu, rhs, u = system(image, trimap, prior)
    if len(u) > CASCADE_FROM and min(trimap.shape) >= 16:
        # Start from the half-scale solution: CG is slow on the smooth part of the error, which the
        # coarse solve removes cheaply (the cascade halves again while the band is large).
        coarse = solve_window(*_half(image, trimap, prior))
        up = np.asarray(Image.fromarray(coarse, "F").resize((trimap.shape[1], trimap.shape[0]),
                                                             Image.Resampling.BILINEAR))
        x0 = up.ravel()[u].astype(np.float64)
    else:
        x0 = prior.ravel()[u] / 255.0
    diag = l_uu.diagonal()
    x = _pcg(l_uu, rhs, x0, 1.0 / np.where(diag > 0, diag, 1.0))
    alpha.ravel()[u] = np.clip(x, 0.0, 1.0)
    return alpha
