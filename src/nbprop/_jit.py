"""How nbprop compiles its kernels, in one place.

* ``kernel``: the loops over samples and weights.  ``fastmath`` lets LLVM
  reassociate sums (so dot products vectorise) and fuse multiply-adds, but
  not assume away NaN or inf: divergence must stay visible.  Its array
  arguments are declared ``noalias`` (no two overlap where one is written),
  so LLVM keeps values in registers across stores into another array and
  drops its run-time overlap checks: the per-sample loop of an 8-32-32-1
  network runs 4 to 17 % faster.  Every caller passes separate buffers;
  ``MLP.fit`` refuses inputs that share memory with the parameters.  (The
  promise covers every pointer Numba passes, an array's reference count
  too: compiled code must not pass two views of one array to a kernel it
  does not inline.)
* ``scalar``: the per-unit maths the kernels call (activations, losses, the
  update rule).  Its flags are set explicitly because Numba otherwise compiles
  a function with the flags of the kernel that first calls it, and caches it
  so: the results would then depend on which call came first.  Fused
  multiply-adds and reciprocals are allowed (they keep the unit loops
  vectorisable); reassociation is not (it would undo the careful evaluation
  order of ``activations.exp``).

* ``inlined``: Numba inlines the function into its caller instead of
  compiling it on its own: a compiled function costs about 50 ms of a cold
  start, whatever its size (an 8-32-32-1 fit now compiles thirteen).  The
  inlined code takes the caller's flags, so this is for pieces that only
  ``scalar`` functions call (exp's reduction, its polynomial, ...), for
  pieces without floating-point arithmetic (a layer's offsets) and for
  arithmetic that reassociation cannot change (one division: the
  scheduled learning rate, a loss's scale).

* ``dispatch`` (``inlined`` too): a choice between ``scalar`` functions by an integer code
  (which activation).  Numba inlines it into each caller, so the
  choice costs a predictable branch and the chosen function is inlined in
  turn, instead of a call per unit whose result makes a round trip through
  memory (on a tiny network, a quarter of the time per sample).  It holds
  no arithmetic of its own, so the caller's flags change nothing.

* ``inlined_kernel``: a ``kernel`` that other kernels call (the forward
  pass, the fused backward pass and update): Numba inlines it into each
  caller, so that the machine code a fit runs is the same whether it was
  just compiled or loaded from the cache.  A callee compiled on its own is
  also linked as a copy into every caller and optimised again there, and
  under reassociation a copy may sum in another order; which copy a call
  then reaches depends on what the process compiled or loaded first: a
  fit from a warm cache differed from the same fit in a cold one in the
  last bits.  Inlining costs 0.1 to 0.3 s of a cold start (each caller types
  and compiles its own copy, where Numba compiled one and linked it).

All cache their machine code on disk (keyed by the source of the whole
package, ``_PackageCache``) and release the GIL, and all use
NumPy's error model: a float division is the IEEE division, never a check
that raises ``ZeroDivisionError``.  That check is a branch to Python's
exception machinery inside every loop that divides, and it alone kept the
activation loops (``sigmoid``, ``tanh``) from vectorising: with it gone they
run three times as fast.  A zero divisor cannot occur in nbprop's maths (every
denominator is at least 1); were it to, inf or NaN would come out and the
divergence checks would report it.

Tools for the kernels live here too: ``stack_array`` (scratch arrays
that LLVM can keep in registers), ``specialise`` (a kernel compiled for
values of its last integer arguments: ``tiny_sgd_epoch``'s architecture, a
per-sample loop's set of activations and loss),
``prefetch_rows`` (a cache hint for the next rows of a shuffled epoch); and
``has_avx512``, the machine's vector width, by which ``_matmul`` and
``activations`` choose their code.
"""

import hashlib
import os

import numba
import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import njit, typeof, types
from numba.core import cgutils, config
from numba.core.caching import FunctionCache
from numba.core.compiler import Compiler
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

KERNEL_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
SCALAR_FASTMATH = {"contract", "arcp", "nsz"}

# ``scalar``'s options, also for the implementations of ``activations``' overloads
SCALAR_OPTIONS = dict(nogil=True, fastmath=SCALAR_FASTMATH, error_model="numpy")


class _NoAliasCompiler(Compiler):
    """Numba's compiler, with every array argument marked ``noalias`` for LLVM (``kernel``'s)."""

    def __init__(self, typingctx, targetctx, library, args, return_type, flags, locals):
        flags = flags.copy()
        flags.noalias = True  # the flag Numba sets for the body of a prange loop without aliases
        super().__init__(typingctx, targetctx, library, args, return_type, flags, locals)


def package_digest(folder=os.path.dirname(os.path.abspath(__file__))):
    """SHA-256 of the source of every module in ``folder`` (the package's), and of Numba's version.

    Examples
    --------
    >>> from nbprop._jit import package_digest
    >>> len(package_digest())
    64
    """
    digest = hashlib.sha256(f"numba {numba.__version__}".encode())
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as source:
                digest.update(name.encode() + b"\0" + source.read())
    return digest.hexdigest()


PACKAGE_DIGEST = package_digest()


class _PackageCache(FunctionCache):
    """Numba's on-disk cache of one function, its entries keyed by the source of the whole package too.

    Numba keys a cached function by its own file's source alone, but a
    kernel's machine code holds the code of functions from other modules
    (inlined, or linked in): after an edit of ``activations.py``, or an
    upgrade that changed it but not ``_kernels.py``, the cache would go on
    serving kernels with the old activations.  Any change to any module
    now makes every kernel compile afresh, once.
    """

    def _index_key(self, sig, codegen):
        return super()._index_key(sig, codegen) + (PACKAGE_DIGEST,)


def _cached_njit(**options):
    """``njit(cache=True, **options)`` with the cache keyed by the package's source (``_PackageCache``)."""
    compile_with = njit(**options)

    def decorate(function):
        dispatcher = compile_with(function)
        dispatcher._cache = _PackageCache(dispatcher.py_func)  # what enable_caching() sets, keyed wider
        return dispatcher

    return decorate


KERNEL_OPTIONS = dict(nogil=True, fastmath=KERNEL_FASTMATH, error_model="numpy", pipeline_class=_NoAliasCompiler)
kernel = _cached_njit(**KERNEL_OPTIONS)
scalar = _cached_njit(**SCALAR_OPTIONS)
inlined = _cached_njit(inline="always", **SCALAR_OPTIONS)
inlined_kernel = _cached_njit(inline="always", **KERNEL_OPTIONS)
dispatch = inlined


def has_avx512():
    """Whether the code Numba generates has 512-bit vectors (AVX-512F).

    ``_matmul`` sizes its tiles by it, and ``activations`` chooses by it
    how a float64 layer's loop takes its exponentials.

    Numba compiles for the host's features unless ``NUMBA_CPU_FEATURES`` names others.
    """
    if config.CPU_FEATURES is not None:
        return "+avx512f" in config.CPU_FEATURES.split(",")
    try:
        return bool(llvm.get_host_cpu_features().get("avx512f", False))
    except RuntimeError:  # no feature list on this host: assume the narrower vectors
        return False


U = np.uint64  # the type of every offset and loop counter in the kernels' inner loops


def among_flags(among, bits, function):
    """Whether each of ``bits`` is set in ``among``, an int literal: for overloads compiled for a set of codes.

    Numba drops a branch before typing it only where the condition is a
    constant (a global, a closure variable) or ``arg is None``, not
    ``among & bit``.  So an overload turns its ``among`` into these flags
    when its caller is compiled, captures them in its implementation and
    tests the flag first (``has_tanh and code == TANH``): what a flag rules
    out is never typed, compiled or linked.  ``among`` must be a constant
    (passed as one through ``specialise``, or a global); anything else is
    a ``TypingError`` naming ``function``.
    """
    if not isinstance(among, types.IntegerLiteral):
        raise TypingError(f"{function}: among must be a compile-time constant (an int literal, see "
                          f"_kernels.network_codes), got {among}")
    return tuple(bool(among.literal_value & bit) for bit in bits)


def cast_like(value, reference):
    """``value`` converted to the type of scalar ``reference`` (inside kernels only)."""
    raise NotImplementedError("cast_like is only available inside compiled kernels")


@overload(cast_like, inline="always")
def _cast_like(value, reference):
    # Python float literals are float64 in Numba; casting keeps float32
    # kernels in float32 so their loops vectorise twice as wide.
    target = reference

    def impl(value, reference):
        return target(value)

    return impl


@intrinsic
def stack_array(typingctx, size, like):
    """A 1-D array of ``size`` (a constant) elements of ``like``'s dtype, on the stack.

    It lives as long as the calling function's frame and must not outlive it.
    Unlike ``np.empty``'s heap memory, LLVM knows that nothing else can point
    into it: where every index into it is a constant (loops of constant
    length, unrolled), it keeps the elements in registers.
    """
    if not isinstance(size, types.IntegerLiteral) or not isinstance(like, types.Array):
        return None
    length, dtype = size.literal_value, like.dtype
    array_type = types.Array(dtype, 1, "C")

    def codegen(context, builder, signature, args):
        element = context.get_data_type(dtype)
        data = cgutils.alloca_once(builder, element, size=context.get_constant(types.intp, length))
        array = make_array(array_type)(context, builder)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(element))
        populate_array(array, data=data, shape=cgutils.pack_array(builder, [context.get_constant(types.intp, length)]),
                       strides=cgutils.pack_array(builder, [itemsize]), itemsize=itemsize, meminfo=None)
        return array._getvalue()

    return array_type(size, like), codegen


_SPECIALISED = {}


def specialise(dispatcher, *args, constants):
    """``dispatcher`` with ``constants`` (ints, or None) compiled in as its last arguments.

    Returns ``call(*args)``, for arguments of the types of ``args`` (only
    these: it checks none).  Numba compiles (or loads from its cache) one
    version per value, in which the values' arithmetic folds away, loops
    they bound have constant length and branches they decide are not
    compiled at all.  Compiling with an explicit signature and keeping the
    entry point skips ``numba.literally``'s dispatch, which retypes the call
    every time (some 50 ms), and ``call`` skips typing the arguments (some
    5 us an array).
    """
    constants = tuple(None if value is None else int(value) for value in constants)
    signature = tuple(typeof(arg) for arg in args) + tuple(
        types.none if value is None else types.literal(value) for value in constants)
    entry = _SPECIALISED.get((dispatcher, signature))
    if entry is None:
        entry = _SPECIALISED[dispatcher, signature] = dispatcher.compile(signature)
    return lambda *call_args: entry(*call_args, *constants)


def call_specialised(dispatcher, *args, constants):
    """``dispatcher(*args, *constants)`` with ``constants`` compiled in (see ``specialise``)."""
    return specialise(dispatcher, *args, constants=constants)(*args)


@intrinsic
def prefetch_rows(typingctx, X, Y, order, position):
    """Hint the CPU to fetch rows ``order[position]`` of ``X`` and ``Y`` (their first cache lines).

    Nothing happens past the end of ``order``; ``llvm.prefetch`` itself never
    faults.  A plain intrinsic, not a function, so that a per-sample loop
    pays no call (and no reference counting) for it.
    """
    rows_of = (X, Y)
    if not (all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" for a in rows_of)
            and isinstance(order, types.Array) and order.ndim == 1 and isinstance(order.dtype, types.Integer)
            and isinstance(position, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        i32, intp = ir.IntType(32), context.get_value_type(types.intp)
        order_view = context.make_array(signature.args[2])(context, builder, args[2])
        index = context.cast(builder, args[3], signature.args[3], types.intp)
        inside = builder.icmp_unsigned("<", index, builder.extract_value(order_view.shape, 0))
        with builder.if_then(inside, likely=True):
            row = builder.load(builder.gep(order_view.data, [index]))
            row = builder.sext(row, intp) if row.type.width < intp.width else row
            for position_in_args in (0, 1):
                view = context.make_array(signature.args[position_in_args])(context, builder, args[position_in_args])
                offset = builder.mul(row, builder.extract_value(view.shape, 1))
                address = builder.bitcast(builder.gep(view.data, [offset]), ir.IntType(8).as_pointer())
                function = builder.module.declare_intrinsic(
                    "llvm.prefetch", [address.type], ir.FunctionType(ir.VoidType(), [address.type, i32, i32, i32]))
                # read, keep in all cache levels, data cache
                builder.call(function, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(X, Y, order, position), codegen
