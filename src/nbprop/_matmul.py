"""Register-tiled matrix products for the kernels, in three forms.

* ``add_products`` (``C += sign A B^T``, rows of ``A`` and ``B`` dotted):
  for long sums, such as a layer's pre-activations over its inputs.  Each
  ``dot_tile`` keeps 16 running sums in vector registers along the rows
  (``dot_tile_ir`` 8, without AVX-512).
* ``add_outer_products`` (``C += alpha A^T B`` as a sum of outer products):
  for short sums, such as a weight gradient over the 32 samples of a batch,
  where the dot form would spend its time adding up the vectors at the end.
  Each ``outer_tile`` keeps an 8 x 24 block of ``C`` (8 x 48 in float32) in
  vector registers over the whole sum, with AVX-512 (else 4 x 12 in 256-bit
  vectors).  LLVM cannot vectorise that loop from Python source (the vectors
  run across the inner loop), so ``outer_tile`` writes its loop in LLVM IR
  with explicit vectors: 512 bits wide where the machine has them, although
  LLVM prefers 256 for the loops it vectorises itself, because this core
  has two 512-bit FMA ports (measured: 120 GFLOP/s in float64 against 65
  with 256-bit vectors).  A weight gradient over 32 samples runs at about
  90 GFLOP/s (55 with the former 4 x 16 tiles of 256 bits).
* ``add_panel_products`` (``C += W T`` with ``T`` and ``C`` in *panels*):
  for the forward pass of ``predict``, the one product there.  Samples sit in
  the lanes of the vectors (a panel holds one unit of 24 samples, in float64,
  contiguously), each ``panel_tile`` keeps 8 x 24 sums in 24 registers of
  512 bits (about 100 GFLOP/s; 6 x 8 in 256-bit vectors without AVX-512),
  and every sum is one chain of fused multiply-adds in the order of
  its terms, so a sample's result depends neither on its lane nor on the
  tile it falls in.

All offsets and strides are unsigned (``U``) element counts into flat arrays.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils, errors
from numba.extending import intrinsic

from ._jit import U, has_avx512, cast_like, inlined, inlined_kernel, kernel


# ------------------------------------------------------------- dot form

@inlined_kernel
def dot_tile(A, a0, a1, a2, a3, B, b0, b1, b2, b3, k):
    """The 16 dot products ``A[a_r : a_r + k] . B[b_c : b_c + k]``, row-major ``(r, c)``.

    Each of the 8 vectors is read once for 16 multiply-adds, so the loop is
    bound by arithmetic, not by loads; LLVM keeps the 16 sums in vector
    registers along ``k``.
    """
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = cast_like(0.0, A[0])
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = cast_like(0.0, A[0])
    for p in range(k):
        y0, y1, y2, y3 = B[b0 + p], B[b1 + p], B[b2 + p], B[b3 + p]
        x = A[a0 + p]
        s00 += x * y0
        s01 += x * y1
        s02 += x * y2
        s03 += x * y3
        x = A[a1 + p]
        s10 += x * y0
        s11 += x * y1
        s12 += x * y2
        s13 += x * y3
        x = A[a2 + p]
        s20 += x * y0
        s21 += x * y1
        s22 += x * y2
        s23 += x * y3
        x = A[a3 + p]
        s30 += x * y0
        s31 += x * y1
        s32 += x * y2
        s33 += x * y3
    return (s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33)


# Without AVX-512, dot_tile's 16 vector sums and the 5 vectors they are
# multiplied from do not fit in AVX2's 16 registers: LLVM keeps 6 of the sums
# on the stack, a load and a store around each of their multiply-adds (23
# GFLOP/s for the blocked loop's 64 x 784 by 784 x 256 product, float64, Zen
# 3).  There a tile written in LLVM IR (dot_tile_ir, vectors of VECTOR_BYTES)
# takes its place: 2 rows of A by 4 of B, 8 sums and 6 vectors loaded per 8
# multiply-adds, 34 GFLOP/s for that product and for the block's Gram matrix
# (3 x 3: 34 and 27; 4 x 3, 12 sums: 28 and 32; 3 x 4 spills: 19 and 14).
DOT_TILE_IN_PYTHON = has_avx512()
DOT_ROWS, DOT_COLUMNS = 2, 4


def _tile_arguments(context, builder, signature, args, dtype):
    """A tile intrinsic's arguments by kind, each kind in order: arrays, integers and floats.

    Returns the arrays' data pointers, the integers (offsets, strides,
    counts) as unsigned 64-bit values and the floats in ``dtype``.
    """
    pointers, integers, floats = [], [], []
    for value, kind in zip(args, signature.args):
        if isinstance(kind, types.Array):
            pointers.append(context.make_array(kind)(context, builder, value).data)
        elif isinstance(kind, types.Integer):
            integers.append(context.cast(builder, value, kind, types.uint64))
        else:
            floats.append(context.cast(builder, value, kind, dtype))
    return pointers, integers, floats


def _dot_tile_codegen(dtype):
    def codegen(context, builder, signature, args):
        (a_ptr, b_ptr, c_ptr), (a0, a_stride, rows, b0, b_stride, columns, k, c0, c_stride), (sign,) = \
            _tile_arguments(context, builder, signature, args, dtype)
        tile = _TileIR(context, builder, dtype, VECTOR_BYTES)
        lanes, constant = tile.lanes, tile.constant
        a_rows = [builder.gep(a_ptr, [builder.add(a0, builder.mul(r, a_stride))])
                  for r in tile.real_rows(rows, DOT_ROWS)]
        b_rows = [builder.gep(b_ptr, [builder.add(b0, builder.mul(c, b_stride))])
                  for c in tile.real_rows(columns, DOT_COLUMNS)]

        def vector_terms(p, sums):
            a = [tile.load(row, p) for row in a_rows]
            b = [tile.load(row, p) for row in b_rows]
            return [tile.fma(a[r], b[c], sums[r * DOT_COLUMNS + c])
                    for r in range(DOT_ROWS) for c in range(DOT_COLUMNS)]

        def scalar_terms(p, totals):
            a = [builder.load(builder.gep(row, [p])) for row in a_rows]
            b = [builder.load(builder.gep(row, [p])) for row in b_rows]
            return [builder.call(scalar_fma, [a[r], b[c], totals[r * DOT_COLUMNS + c]])
                    for r in range(DOT_ROWS) for c in range(DOT_COLUMNS)]

        scalar_fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(tile.scalar, [tile.scalar] * 3), f"llvm.fma.f{dtype.bitwidth}")
        zero = ir.Constant(tile.vector, [ir.Constant(tile.scalar, 0.0)] * lanes)
        whole = builder.sub(k, builder.urem(k, constant(lanes)))
        sums = tile.loop("dot", constant(0), whole, constant(lanes), [zero] * (DOT_ROWS * DOT_COLUMNS),
                         vector_terms)
        totals = tile.loop("dot.tail", whole, k, constant(1), [tile.lane_sum(v) for v in sums], scalar_terms)

        def add_row(r):
            for c in range(DOT_COLUMNS):
                store = builder.append_basic_block(f"dot.store{r}.{c}")
                after = builder.append_basic_block(f"dot.after{r}.{c}")
                builder.cbranch(builder.icmp_unsigned("<", constant(c), columns), store, after)
                builder.position_at_end(store)
                address = builder.gep(c_ptr, [builder.add(c0, builder.add(builder.mul(constant(r), c_stride),
                                                                             constant(c)))])
                old = builder.load(address)
                builder.store(builder.call(scalar_fma, [sign, totals[r * DOT_COLUMNS + c], old]), address)
                builder.branch(after)
                builder.position_at_end(after)

        tile.store_real_rows("dot", rows, DOT_ROWS, add_row)
        return context.get_dummy_value()

    return codegen


@intrinsic
def dot_tile_ir(typingctx, A, a0, a_stride, rows, B, b0, b_stride, columns, k, C, c0, c_stride, sign):
    """``C[c0 + r c_stride + c] += sign (A[a0 + r a_stride + p] . B[b0 + c b_stride + p])``, ``p < k``.

    For ``r < rows`` (at most ``DOT_ROWS``) and ``c < columns`` (at most
    ``DOT_COLUMNS``): the sums run in vectors along ``p``, one per pair of
    rows, their lanes added up in a fixed tree after the loop and the last
    ``k % lanes`` terms added to them one by one.  Rows and columns past the
    real ones repeat the last real one and are never stored.
    """
    for array in (A, B, C):
        if not (isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"
                and array.dtype == A.dtype and array.dtype in (types.float32, types.float64)):
            raise errors.TypingError(f"dot_tile_ir: A, B and C must be 1-D C-contiguous arrays of "
                                     f"one float dtype, got {A}, {B}, {C}")
    sig = types.void(A, a0, a_stride, rows, B, b0, b_stride, columns, k, C, c0, c_stride, sign)
    return sig, _dot_tile_codegen(A.dtype)


@inlined_kernel
def add_products(A, a_start, a_stride, m, B, b_start, b_stride, n, k, C, c_start, c_stride, sign):
    """``C[r, c] += sign * (A[r] . B[c])`` for ``r < m``, ``c < n``: ``C += sign A B^T``.

    Rows of ``A``, ``B`` and ``C`` start at ``start + row * stride`` in the flat
    arrays; each row of ``A`` and ``B`` has ``k`` elements.  Four rows of each
    go through ``dot_tile`` at once (with AVX-512; else ``DOT_ROWS`` of ``A``
    and ``DOT_COLUMNS`` of ``B`` through ``dot_tile_ir``); at the edges the
    last row stands in for the missing ones and only real entries are written.
    """
    if not DOT_TILE_IN_PYTHON:
        # As below: rows of B stay in L1 while every row of A passes by.
        for c in range(U(0), n, U(DOT_COLUMNS)):
            for r in range(U(0), m, U(DOT_ROWS)):
                dot_tile_ir(A, a_start + r * a_stride, a_stride, min(U(DOT_ROWS), m - r),
                            B, b_start + c * b_stride, b_stride, min(U(DOT_COLUMNS), n - c), k,
                            C, c_start + r * c_stride + c, c_stride, sign)
    else:
        last_r, last_c = m - U(1), n - U(1)
        # Four rows of B (a layer's weights, usually the larger operand) stay in L1
        # while every row of A passes by.
        for c in range(U(0), n, U(4)):
            b0 = b_start + c * b_stride
            b1 = b_start + min(c + U(1), last_c) * b_stride
            b2 = b_start + min(c + U(2), last_c) * b_stride
            b3 = b_start + min(c + U(3), last_c) * b_stride
            for r in range(U(0), m, U(4)):
                a0 = a_start + r * a_stride
                a1 = a_start + min(r + U(1), last_r) * a_stride
                a2 = a_start + min(r + U(2), last_r) * a_stride
                a3 = a_start + min(r + U(3), last_r) * a_stride
                sums = dot_tile(A, a0, a1, a2, a3, B, b0, b1, b2, b3, k)
                for q in range(16):
                    row, col = r + U(q // 4), c + U(q % 4)
                    if row < m and col < n:
                        C[c_start + row * c_stride + col] += sign * sums[q]


# ----------------------------------------------------------- outer form

# With AVX-512, 8 rows by 3 vectors of 512 bits (24 of the 32 registers as
# sums, as panel_tile below); else 4 rows by 3 vectors of 256 bits: 12 sums,
# 3 vectors of B and a broadcast in AVX2's 16 registers (the former 4 x 4
# needed 21 and spilled: the blocked loop's weight update, 256 x 784 over 64
# samples in float64 on Zen 3, 18 GFLOP/s, now 31; 6 x 2 gives 29, 5 x 2 27).
if has_avx512():
    TILE_ROWS, TILE_VECTORS, VECTOR_BYTES = 8, 3, 64
else:
    TILE_ROWS, TILE_VECTORS, VECTOR_BYTES = 4, 3, 32


def _outer_tile(n_rows, vectors):
    """The ``outer_tile`` intrinsic for ``n_rows`` rows of ``vectors`` vectors (``TILE_ROWS x TILE_VECTORS``, ...)."""

    def outer_tile(typingctx, A, a0, a_row, a_step, B, b0, b_step, k, C, c0, c_stride, rows, alpha):
        # The IR below indexes raw data pointers of A's dtype: anything else would be misread.
        for array in (A, B, C):
            if not (isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"
                    and array.dtype == A.dtype and array.dtype in (types.float32, types.float64)):
                raise errors.TypingError(f"outer_tile: A, B and C must be 1-D C-contiguous arrays of "
                                         f"one float dtype, got {A}, {B}, {C}")
        dtype = A.dtype
        sig = types.void(A, a0, a_row, a_step, B, b0, b_step, k, C, c0, c_stride, rows, alpha)
        return sig, _outer_tile_codegen(dtype, n_rows, vectors)

    return intrinsic(outer_tile)


class _TileIR:
    """The LLVM IR both register tiles are built from: vectors of ``vector_bytes``, their FMA, and the tile loop."""

    def __init__(self, context, builder, dtype, vector_bytes):
        self.builder = builder
        self.scalar = context.get_value_type(dtype)
        self.lanes = vector_bytes // (dtype.bitwidth // 8)
        self.vector = ir.VectorType(self.scalar, self.lanes)
        self.align = dtype.bitwidth // 8
        self._fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(self.vector, [self.vector] * 3),
            f"llvm.fma.v{self.lanes}f{dtype.bitwidth}")

    def constant(self, value):
        """An i64 constant."""
        return ir.Constant(ir.IntType(64), value)

    def fma(self, a, b, c):
        """``a * b + c`` lane by lane, rounded once."""
        return self.builder.call(self._fma, [a, b, c])

    def broadcast(self, value):
        """``value`` in every lane."""
        undefined = ir.Constant(self.vector, ir.Undefined)
        first = self.builder.insert_element(undefined, value, ir.Constant(ir.IntType(32), 0))
        return self.builder.shuffle_vector(first, undefined,
                                           ir.Constant(ir.VectorType(ir.IntType(32), self.lanes), [0] * self.lanes))

    def vector_at(self, pointer, offset):
        """A pointer to the vector at element ``offset`` of ``pointer``."""
        return self.builder.bitcast(self.builder.gep(pointer, [offset]), self.vector.as_pointer())

    def load(self, pointer, offset):
        """The vector at element ``offset`` of ``pointer``."""
        return self.builder.load(self.vector_at(pointer, offset), align=self.align)

    def real_rows(self, rows, n_rows):
        """Row indices ``0 .. n_rows - 1``, those past ``rows`` repeating the last real row.

        The repeats read real memory, so the tile never branches on its height;
        ``store_real_rows`` stores none of them.
        """
        last_row = self.builder.sub(rows, self.constant(1))
        return [self.builder.select(self.builder.icmp_unsigned("<", self.constant(r), rows), self.constant(r),
                                    last_row) for r in range(n_rows)]

    def loop(self, name, start, stop, step, initial, body):
        """Emit ``for p in range(start, stop, step): values = body(p, values)``; return the final values.

        ``initial`` holds the starting values (the loop's phi nodes), ``body``
        returns the updated ones in the same order.
        """
        builder = self.builder
        entry = builder.block
        loop = builder.append_basic_block(f"{name}.loop")
        body_block = builder.append_basic_block(f"{name}.body")
        done = builder.append_basic_block(f"{name}.done")
        builder.branch(loop)

        builder.position_at_end(loop)
        p = builder.phi(ir.IntType(64))
        p.add_incoming(start, entry)
        values = []
        for value in initial:
            values.append(builder.phi(value.type))
            values[-1].add_incoming(value, entry)
        builder.cbranch(builder.icmp_unsigned("<", p, stop), body_block, done)

        builder.position_at_end(body_block)
        updated = body(p, values)
        p.add_incoming(builder.add(p, step), builder.block)
        for phi, value in zip(values, updated):
            phi.add_incoming(value, builder.block)
        builder.branch(loop)
        builder.position_at_end(done)
        return values

    def sums(self, name, k, initial, n_rows, vectors, weight_at, vector_at):
        """Emit ``for p < k: sums[r, v] = fma(broadcast(*weight_at(r, p)), vector_at(p, v), sums[r, v])``.

        ``initial`` holds the ``n_rows * vectors`` starting sums, row-major;
        ``weight_at(r, p)`` is a pointer to row ``r``'s scalar of term ``p`` and
        ``vector_at(p, v)`` the ``v``-th vector of term ``p``.  Returns the sums
        after the loop, row-major.
        """
        def body(p, sums):
            term = [vector_at(p, v) for v in range(vectors)]
            updated = []
            for r in range(n_rows):
                weight = self.broadcast(self.builder.load(weight_at(r, p)))
                for v in range(vectors):
                    updated.append(self.fma(weight, term[v], sums[r * vectors + v]))
            return updated

        return self.loop(name, self.constant(0), k, self.constant(1), initial, body)

    def lane_sum(self, vector):
        """The sum of ``vector``'s lanes, as a tree of halves (a fixed order)."""
        builder, lanes = self.builder, self.lanes
        while lanes > 1:
            lanes //= 2
            low = builder.shuffle_vector(vector, vector, ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                                                                     list(range(lanes))))
            high = builder.shuffle_vector(vector, vector, ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                                                                      list(range(lanes, 2 * lanes))))
            vector = builder.fadd(low, high)
        return builder.extract_element(vector, ir.Constant(ir.IntType(32), 0))

    def store_real_rows(self, name, rows, n_rows, store_row):
        """Call ``store_row(r)`` for the rows ``r < rows`` only (a branch each: at most ``n_rows``)."""
        builder = self.builder
        for r in range(n_rows):
            store = builder.append_basic_block(f"{name}.store{r}")
            after = builder.append_basic_block(f"{name}.after{r}")
            builder.cbranch(builder.icmp_unsigned("<", self.constant(r), rows), store, after)
            builder.position_at_end(store)
            store_row(r)
            builder.branch(after)
            builder.position_at_end(after)


def _outer_tile_codegen(dtype, n_rows, vectors):
    def codegen(context, builder, signature, args):
        (a_ptr, b_ptr, c_ptr), (a0, a_row, a_step, b0, b_step, k, c0, c_stride, rows), (alpha,) = \
            _tile_arguments(context, builder, signature, args, dtype)
        tile = _TileIR(context, builder, dtype, VECTOR_BYTES)
        lanes, constant = tile.lanes, tile.constant
        row_offsets = [builder.mul(r, a_row) for r in tile.real_rows(rows, n_rows)]

        def a_at(r, p):
            return builder.gep(a_ptr, [builder.add(builder.add(a0, builder.mul(p, a_step)), row_offsets[r])])

        def b_at(p, v):
            return tile.load(b_ptr, builder.add(builder.add(b0, builder.mul(p, b_step)), constant(v * lanes)))

        zero = ir.Constant(tile.vector, [ir.Constant(tile.scalar, 0.0)] * lanes)
        sums = tile.sums("outer", k, [zero] * (n_rows * vectors), n_rows, vectors, a_at, b_at)
        alphas = tile.broadcast(alpha)

        def add_row(r):
            c_start = builder.add(c0, builder.mul(constant(r), c_stride))
            for v in range(vectors):
                address = tile.vector_at(c_ptr, builder.add(c_start, constant(v * lanes)))
                old = builder.load(address, align=tile.align)
                builder.store(tile.fma(alphas, sums[r * vectors + v], old), address, align=tile.align)

        tile.store_real_rows("outer", rows, n_rows, add_row)
        return context.get_dummy_value()

    return codegen


outer_tile = _outer_tile(TILE_ROWS, TILE_VECTORS)
outer_tile.__doc__ = """``C[c0 + r c_stride + c] += alpha sum_p A[a0 + r a_row + p a_step] B[b0 + p b_step + c]``.

For ``r < rows`` (at most ``TILE_ROWS``) and ``c`` below ``tile_columns``: a
block of ``C`` held in ``TILE_ROWS x TILE_VECTORS`` vector registers while
``p`` runs over the ``k`` terms; each term is ``TILE_VECTORS`` vector loads of
``B``, ``TILE_ROWS`` broadcasts of ``A`` and a fused multiply-add for each
pair.  Rows past ``rows`` repeat the last real row and are never stored.
"""
outer_tile_edge = _outer_tile(TILE_ROWS, 1)  # the same, one vector wide: the columns a full tile leaves
# One row of ROW_VECTORS vectors (add_row_products): ROW_VECTORS sums, as many
# loads of B and a broadcast per term.  8: the blocked loop's corrections of
# 64-128-10 in float64 (k < 32 terms, 128 columns) take 4.0 us a block, with
# 4 vectors 5.9, with 2 5.4 (Zen 3).
ROW_VECTORS = 8
outer_row_tile = _outer_tile(1, ROW_VECTORS)


def tile_columns(dtype):
    """Columns of an ``outer_tile``: 24 in float64, 48 in float32 (12 and 24 without AVX-512)."""
    return TILE_VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize


@inlined_kernel
def add_outer_products(A, a_start, a_row, a_step, m, B, b_start, b_step, n, k, C, c_start, c_stride,
                       alpha):
    """``C[r, c] += alpha sum_p A[a_start + r a_row + p a_step] B[b_start + p b_step + c]``.

    For ``r < m``, ``c < n``, ``p < k``; row ``r`` of ``C`` starts at
    ``c_start + r c_stride``.  Full tiles of ``tile_columns`` columns go
    through ``outer_tile``, the rest a vector at a time through
    ``outer_tile_edge``, and the last few columns one by one.  ``A`` may be
    ``C`` (the batched gradient reads deltas from the array it writes the
    next ones into) only because callers inline this (``inlined_kernel``):
    a compiled call would promise LLVM they do not overlap.
    """
    lanes = U(VECTOR_BYTES // C.itemsize)
    width = U(TILE_VECTORS) * lanes
    full = n - n % width
    vectored = n - n % lanes
    for r in range(U(0), m, U(TILE_ROWS)):
        rows = min(U(TILE_ROWS), m - r)
        for c in range(U(0), full, width):
            outer_tile(A, a_start + r * a_row, a_row, a_step, B, b_start + c, b_step, k,
                       C, c_start + r * c_stride + c, c_stride, rows, alpha)
        for c in range(full, vectored, lanes):
            outer_tile_edge(A, a_start + r * a_row, a_row, a_step, B, b_start + c, b_step, k,
                            C, c_start + r * c_stride + c, c_stride, rows, alpha)
        for q in range(rows):
            for c in range(vectored, n):
                total = cast_like(0.0, C[0])
                for p in range(k):
                    total += A[a_start + (r + q) * a_row + p * a_step] * B[b_start + p * b_step + c]
                C[c_start + (r + q) * c_stride + c] += alpha * total


@inlined_kernel
def add_row_products(A, a_start, a_step, B, b_start, b_step, n, k, C, c_start, alpha):
    """``C[c_start + c] += alpha sum_p A[a_start + p a_step] B[b_start + p b_step + c]``, ``c < n``, ``p < k``.

    ``add_outer_products`` for one row of ``C``, whose tiles would spend
    three quarters of their work on repeats of that row: ``outer_row_tile``
    keeps ``ROW_VECTORS`` vectors of the row in registers over the sum, and
    the columns past the last whole tile go one by one.
    """
    width = U(ROW_VECTORS * VECTOR_BYTES // C.itemsize)
    full = n - n % width
    for c in range(U(0), full, width):
        outer_row_tile(A, a_start, U(0), a_step, B, b_start + c, b_step, k, C, c_start + c, U(0), U(1), alpha)
    for c in range(full, n):
        total = cast_like(0.0, C[0])
        for p in range(k):
            total += A[a_start + p * a_step] * B[b_start + p * b_step + c]
        C[c_start + c] += alpha * total


# ----------------------------------------------------------- panel form
#
# predict's product Z^T = W A^T, with the samples across the vectors: for
# each term p, one row of T = A^T (a unit's value in every sample of a panel)
# is a few contiguous vectors, each weight W[j, p] one broadcast, and C = Z^T
# gets a multiply-add per vector and weight.  W needs no packing (its rows
# are read as they are, one stream per tile row); the block's inputs are
# packed once, and each layer writes its outputs in the same panel layout its
# successor reads.


# This core has two 512-bit FMA ports (measured: 120 GFLOP/s with 512-bit
# vectors against 65 with 256-bit, float64, 4 GHz): a tile of 8 rows by 3
# vectors keeps 24 of the 32 vector registers as sums, 3 for the row of T,
# and takes the weights as broadcast memory operands.  Without AVX-512 (16
# registers of 256 bits) 6 rows by 2 vectors keep 12 sums.
if has_avx512():
    PANEL_ROWS, PANEL_VECTORS, PANEL_VECTOR_BYTES = 8, 3, 64
else:
    PANEL_ROWS, PANEL_VECTORS, PANEL_VECTOR_BYTES = 6, 2, 32
PANEL_DEPTH = 256  # most terms per pass: 784 go in 4 passes of 196, a panel's rows of T (37 KB) in L1 (48 KB)


def _panel_tile(vectors):
    """The ``panel_tile`` intrinsic, ``vectors`` vectors wide (``PANEL_VECTORS``, or 1 for the edge)."""

    def panel_tile(typingctx, W, w0, w_row, rows, T, t0, t_step, k, C, c0, c_row):
        for array in (W, T, C):
            if not (isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"
                    and array.dtype == W.dtype and array.dtype in (types.float32, types.float64)):
                raise errors.TypingError(f"panel_tile: W, T and C must be 1-D C-contiguous arrays of "
                                         f"one float dtype, got {W}, {T}, {C}")
        sig = types.void(W, w0, w_row, rows, T, t0, t_step, k, C, c0, c_row)
        return sig, _panel_tile_codegen(W.dtype, vectors)

    return intrinsic(panel_tile)


def _panel_tile_codegen(dtype, vectors):
    def codegen(context, builder, signature, args):
        (w_ptr, t_ptr, c_ptr), (w0, w_row, rows, t0, t_step, k, c0, c_row), () = \
            _tile_arguments(context, builder, signature, args, dtype)
        tile = _TileIR(context, builder, dtype, PANEL_VECTOR_BYTES)
        lanes, constant = tile.lanes, tile.constant
        clamped = tile.real_rows(rows, PANEL_ROWS)
        w_rows = [builder.gep(w_ptr, [builder.add(w0, builder.mul(r, w_row))]) for r in clamped]
        c_addresses = [[tile.vector_at(c_ptr, builder.add(c0, builder.add(builder.mul(r, c_row),
                                                                          constant(v * lanes))))
                        for v in range(vectors)] for r in clamped]

        def w_at(r, p):
            return builder.gep(w_rows[r], [p])

        def t_at(p, v):
            return tile.load(t_ptr, builder.add(builder.add(t0, builder.mul(p, t_step)), constant(v * lanes)))

        # The sums start from C itself, so a sum split over passes of
        # PANEL_DEPTH terms rounds exactly as one chain over all its terms.
        initial = [builder.load(address, align=tile.align) for row in c_addresses for address in row]
        sums = tile.sums("panel", k, initial, PANEL_ROWS, vectors, w_at, t_at)

        def store_row(r):
            for v in range(vectors):
                builder.store(sums[r * vectors + v], c_addresses[r][v], align=tile.align)

        tile.store_real_rows("panel", rows, PANEL_ROWS, store_row)
        return context.get_dummy_value()

    return codegen


panel_tile = _panel_tile(PANEL_VECTORS)
panel_tile.__doc__ = """``C[c0 + r c_row + c] += sum_p W[w0 + r w_row + p] T[t0 + p t_step + c]``, ``p < k``.

For ``r < rows`` (at most ``PANEL_ROWS``) and ``c`` below ``panel_width``:
``PANEL_ROWS`` rows of ``C`` held in vector registers while ``p`` runs over
the ``k`` terms; each term is ``PANEL_VECTORS`` vector loads of ``T``, a
broadcast weight per row and a fused multiply-add per row and vector.  Each
sum is ``fma(W, T, sum)`` term after term, starting from ``C``.
"""
panel_tile_edge = _panel_tile(1)  # the same, one vector wide: the samples a full panel leaves


def panel_lanes(dtype):
    """Samples per vector of a panel: 8 in float64, 16 in float32 (with AVX-512)."""
    return PANEL_VECTOR_BYTES // np.dtype(dtype).itemsize


def panel_width(dtype):
    """Samples per full panel: 24 in float64, 48 in float32 (with AVX-512)."""
    return PANEL_VECTORS * panel_lanes(dtype)


@inlined
def panel_widths(like):
    """``(lanes, wide)`` for ``like``'s dtype: ``panel_lanes`` and ``panel_width``, in compiled code."""
    lanes = U(PANEL_VECTOR_BYTES // like.itemsize)
    return lanes, U(PANEL_VECTORS) * lanes


@inlined
def whole_vectors(m, lanes):
    """``m`` samples rounded up to whole vectors of ``lanes``: the samples a block's panels hold."""
    return m + (lanes - m % lanes) % lanes


@kernel
def panel_of(b, n, wide, lanes):
    """Start and width of the panel that holds sample ``b`` of ``n`` (see ``add_panel_products``)."""
    full = n - n % wide
    if b < full:
        return b - b % wide, wide
    return b - (b - full) % lanes, lanes


@inlined_kernel
def add_panel_products(W, w_start, w_row, m, k, T, t_unit, n, n_units, c_unit):
    """``C[r, b] += sum_p W[w_start + r w_row + p] T[t_unit + p, b]`` for ``r < m``, ``p < k``, every ``b < n``.

    ``T`` is a block of samples in *panels*: the first ``n - n % width``
    samples in panels of ``width = panel_width`` samples, the rest in panels
    of ``lanes = panel_lanes`` (the last one padded with samples that are
    computed and ignored: the buffer holds ``n`` rounded up to ``lanes``).
    The panel starting at sample ``s`` with width ``w`` keeps unit ``u`` of
    its samples contiguously, at ``s n_units + u w``.  ``C`` is units
    ``c_unit ...`` of the same block, ``C[r, b]`` being unit ``c_unit + r``.
    Passes of ``PANEL_DEPTH`` terms keep each panel's rows of ``T`` in L1
    while ``W``'s rows pass by.
    """
    lanes, wide = panel_widths(T)
    full = n - n % wide
    rows = U(PANEL_ROWS)
    # Passes of equal depth: 784 terms as 4 x 196 rather than 3 x 256 + 16,
    # whose short last pass would spend its time loading and storing C.  The
    # edge panels, a vector wide, take passes as many times deeper as a full
    # panel has vectors (the same bytes of T per pass).
    for s0, s1, width, depth in ((U(0), full, wide, U(PANEL_DEPTH)),
                                 (full, n, lanes, U(PANEL_DEPTH * PANEL_VECTORS))):
        passes = (k + depth - U(1)) // depth
        step = (k + passes - U(1)) // passes
        for p in range(U(0), k, step):
            terms = min(step, k - p)
            for s in range(s0, s1, width):
                t0 = s * n_units + (t_unit + p) * width
                for r in range(U(0), m, rows):
                    if width == wide:
                        panel_tile(W, w_start + r * w_row + p, w_row, min(rows, m - r), T, t0, width,
                                   terms, T, s * n_units + (c_unit + r) * width, width)
                    else:
                        panel_tile_edge(W, w_start + r * w_row + p, w_row, min(rows, m - r), T, t0,
                                        width, terms, T, s * n_units + (c_unit + r) * width, width)


@kernel
def pack_panels(src, row0, col0, count, m, panels, n_units, unit0, check_finite):
    """Units ``unit0 ...`` of ``m`` samples' panels from ``src[row0 + b, col0 + u]``, ``u < count``.

    The lanes that pad the last panel to a whole vector get zeros: the
    products read them, and must see finite numbers.  With ``check_finite``,
    returns the sum of ``0 x`` over the values packed: 0 if all are finite,
    NaN if not (nearly free while the loop waits on ``src`` from memory, but a
    chain of dependent additions: a block's own activations are not checked).
    """
    lanes, wide = panel_widths(panels)
    zero = cast_like(0.0, panels[0])
    check = zero
    s = U(0)
    while s < whole_vectors(m, lanes):
        w = panel_of(s, m, wide, lanes)[1]
        real = min(w, m - s)
        base = s * n_units + unit0 * w
        if real < w:  # the padded panel (one sample, say): zeros first
            for q in range(count * w):
                panels[base + q] = 0.0
        for u in range(count):  # the panel's rows written whole, src read down its columns
            for b in range(real):
                value = src[row0 + s + b, col0 + u]
                panels[base + u * w + b] = value
                if check_finite:
                    check += zero * value
        s += w
    return check


@kernel
def unpack_panels(panels, n_units, unit0, count, m, dst, row0, col0):
    """``dst[row0 + b, col0 + u]`` = unit ``unit0 + u`` of sample ``b`` of the panels, ``b < m``, ``u < count``."""
    lanes, wide = panel_widths(panels)
    s = U(0)
    while s < m:
        w = panel_of(s, m, wide, lanes)[1]
        base = s * n_units + unit0 * w
        for b in range(min(w, m - s)):
            for u in range(count):
                dst[row0 + s + b, col0 + u] = panels[base + u * w + b]
        s += w


@inlined_kernel
def panel_layer(params, w0, b0, fan_in, fan_out, panels, i0, o0, m, n_units):
    """A layer's ``Z = W A + b`` in the panels of ``m`` samples: units ``o0 ...`` from units ``i0 ...``.

    ``W`` and ``b`` at ``w0`` and ``b0`` in ``params``, ``W`` row-major
    ``(fan_out, fan_in)``.  Each ``Z`` starts as the bias, and the product adds
    its terms in order.
    """
    lanes, wide = panel_widths(panels)
    s = U(0)
    while s < whole_vectors(m, lanes):
        w = panel_of(s, m, wide, lanes)[1]
        for j in range(fan_out):
            for b in range(w):
                panels[s * n_units + (o0 + j) * w + b] = params[b0 + j]
        s += w
    add_panel_products(params, w0, fan_in, fan_out, fan_in, panels, i0, m, n_units, o0)


@kernel
def panel_buffer(samples, n_units, like):
    """An uninitialised panel block for ``samples`` samples (padded to whole vectors), vector-aligned.

    Every panel's rows then start on a vector's bytes too (panels and rows
    are whole vectors): loads that straddle two cache lines cost the product
    about 4%.
    """
    lanes = panel_widths(like)[0]
    spare = np.empty(whole_vectors(samples, lanes) * n_units + lanes, dtype=like.dtype)
    skip = U(PANEL_VECTOR_BYTES - spare.ctypes.data % PANEL_VECTOR_BYTES) % U(PANEL_VECTOR_BYTES)
    return spare[skip // U(like.itemsize):]
