# CPython-only stand-in for MicroPython's `micropython` module (host tests and tools).
# Never deployed: device builds use the real module, and the compiler treats `const`
# as a compile-time constant. Viper kernels are not imported on CPython at all; their
# pure-Python twins are (see DESIGN section 3).

_heap_locks = 0


def const(value):
    return value


def native(function):
    return function


def viper(function):
    return function


def schedule(function, arg):
    function(arg)


def heap_lock():
    global _heap_locks
    _heap_locks += 1


def heap_unlock():
    global _heap_locks
    _heap_locks -= 1
    return _heap_locks


def alloc_emergency_exception_buf(size):
    pass


def mem_info(verbose=False):
    pass


def opt_level(level=None):
    return 0
