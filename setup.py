"""The one compiled piece: engine/_arraycache.c, NumPy's allocator for the engine's large
arrays (see engine/array_cache.py). Optional: without a C compiler the install goes on and
the engine allocates as NumPy does by default."""

import numpy
from setuptools import Extension, setup

setup(ext_modules=[Extension("engine._arraycache", ["engine/_arraycache.c"],
                             include_dirs=[numpy.get_include()], optional=True)])
