"""The two ways nbprop compiles code, in one place.

* ``kernel``: the loops over samples and weights.  ``fastmath`` lets LLVM
  reassociate sums (so dot products vectorise) and fuse multiply-adds, but
  not assume away NaN or inf: divergence must stay visible.
* ``scalar``: the per-unit maths the kernels call (activations, losses, the
  update rule).  Its flags are set explicitly because Numba otherwise compiles
  a function with the flags of the kernel that first calls it, and caches it
  so: the results would then depend on which call came first.  Fused
  multiply-adds and reciprocals are allowed (they keep the unit loops
  vectorisable); reassociation is not (it would undo the careful evaluation
  order of ``activations.exp``).

* ``dispatch``: a choice between ``scalar`` functions by an integer code
  (which activation, which loss).  Numba inlines it into each caller, so the
  choice costs a predictable branch and the chosen function is inlined in
  turn, instead of a call per unit whose result makes a round trip through
  memory (on a tiny network, a quarter of the time per sample).  It holds
  no arithmetic of its own, so the caller's flags change nothing.

All cache their machine code on disk and release the GIL.
"""

from numba import njit

KERNEL_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
SCALAR_FASTMATH = {"contract", "arcp", "nsz"}

kernel = njit(cache=True, nogil=True, fastmath=KERNEL_FASTMATH)
scalar = njit(cache=True, nogil=True, fastmath=SCALAR_FASTMATH)
dispatch = njit(cache=True, nogil=True, fastmath=SCALAR_FASTMATH, inline="always")
