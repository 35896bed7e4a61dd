"""The compiled pieces, both optional: without a C compiler the install goes on and the engine
works without them.

- engine/_arraycache.c: NumPy's allocator for the engine's large arrays (engine/array_cache.py);
  without it the engine allocates as NumPy does by default.
- engine/_gctrack.c: graph nodes hidden from the cyclic GC, as PyTorch's C++ nodes are
  (engine/graph.py); without it nodes stay visible and long forward passes pay for GC passes.
"""

import numpy
from setuptools import Extension, setup

setup(ext_modules=[Extension("engine._arraycache", ["engine/_arraycache.c"],
                             include_dirs=[numpy.get_include()], optional=True),
                   Extension("engine._gctrack", ["engine/_gctrack.c"], optional=True)])
