"""Closed-form alpha matting (Levin, Lischinski & Weiss 2008) solved only where the trimap is unknown,
one tile at a time.

For every 3×3 window that touches an unknown pixel, the matting Laplacian gets the window's 9×9 block
δij − (1 + (Ii − μ)ᵀ (Σ + ε/9·I)⁻¹ (Ij − μ)) / 9; the unknown alphas then solve L_UU α_U = −L_UK α_K
with the known alphas 1 (foreground) and 0 (background), as pymatting's `estimate_alpha_cf` (which
rembg uses) does over the whole image. Here the system is one tile plus a margin, built with numpy
(no JIT: importing pymatting's numba costs about 120 MB of RSS and a compile cache) and solved by
conjugate gradients. A small pull towards the model's own alpha (weight `PRIOR`) keeps an unknown region that no
known pixel reaches well posed instead of singular.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from scipy import ndimage

from .trimap import BACKGROUND, FOREGROUND, UNKNOWN

EPSILON = 1e-7  # pymatting's (and so rembg's) regularisation of the colour covariance
CG_RTOL, CG_MAXITER = 1e-3, 300
DIRECT_MAX = 0  # always iterate: measured slower direct (SuperLU) even on 64² tiles
PERMC = "MMD_AT_PLUS_A"
PRIOR = 1e-5  # weight of the model's alpha in unknown pixels; far below the Laplacian's entries
_OFFSETS = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])


def _window_centres(unknown: np.ndarray) -> np.ndarray:
    """Flat indices of the 3×3 window centres (away from the border) whose window holds an unknown."""
    h, w = unknown.shape
    touched = ndimage.binary_dilation(unknown, np.ones((3, 3), bool))
    touched[0, :] = touched[-1, :] = touched[:, 0] = touched[:, -1] = False
    return np.flatnonzero(touched)


def laplacian(image: np.ndarray, centres: np.ndarray, epsilon: float = EPSILON) -> scipy.sparse.csr_matrix:
    """The matting Laplacian of `image` (h×w×3 float, 0-1) from the 3×3 windows centred at `centres`."""
    h, w, _ = image.shape
    flat = image.reshape(-1, 3).astype(np.float64, copy=False)  # tile-sized: covariances need it
    idx = centres[:, None] + (_OFFSETS[:, 0] * w + _OFFSETS[:, 1])[None, :]  # (n, 9)
    colours = flat[idx]  # (n, 9, 3)
    centred = colours - colours.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", centred, centred) / 9.0
    cov += (epsilon / 9.0) * np.eye(3)
    inv = np.linalg.inv(cov)
    values = -(1.0 + np.matmul(np.matmul(centred, inv), centred.transpose(0, 2, 1))) / 9.0
    values += np.eye(9)
    rows = np.broadcast_to(idx[:, :, None], values.shape).ravel()
    cols = np.broadcast_to(idx[:, None, :], values.shape).ravel()
    n = h * w
    return scipy.sparse.coo_matrix((values.ravel(), (rows, cols)), shape=(n, n)).tocsr()


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


def solve_window(image: np.ndarray, trimap: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Alpha (float32, h×w) of one window: known pixels keep 0/1, unknown ones are solved.

    `image` is h×w×3 uint8, `trimap` h×w uint8 (0/128/255), `prior` h×w uint8 (the model's alpha)."""
    unknown = trimap == UNKNOWN
    alpha = (trimap == FOREGROUND).astype(np.float32)
    if not unknown.any():
        return alpha
    known = ~unknown
    if trimap.shape[0] < 3 or trimap.shape[1] < 3:
        alpha[unknown] = prior[unknown] / 255.0
        return alpha
    lap = laplacian(image.astype(np.float64) / 255.0, _window_centres(unknown))
    u, k = np.flatnonzero(unknown), np.flatnonzero(known)
    l_uu = lap[u][:, u]
    l_uu = l_uu + PRIOR * scipy.sparse.identity(len(u), format="csr")
    rhs = -(lap[u][:, k] @ (trimap.ravel()[k] == FOREGROUND).astype(np.float64))
    rhs += PRIOR * prior.ravel()[u] / 255.0
    # Conjugate gradients from the model's alpha with a Jacobi preconditioner: a band tile's system is
    # small and well started, so a bounded number of steps replaces a direct factorisation whose fill-in
    # grows fast with the unknown area (1.2 s for a 120² all-unknown window against ~0.05 s).
    diag = l_uu.diagonal()
    x0 = prior.ravel()[u] / 255.0
    if len(u) <= DIRECT_MAX:
        x = scipy.sparse.linalg.spsolve(l_uu.tocsc(), rhs, permc_spec=PERMC)
    else:
        x = _pcg(l_uu, rhs, x0, 1.0 / np.where(diag > 0, diag, 1.0))
    alpha.ravel()[u] = np.clip(x, 0.0, 1.0)
    return alpha


__all__ = ["BACKGROUND", "EPSILON", "FOREGROUND", "PRIOR", "UNKNOWN", "laplacian", "solve_window"]
