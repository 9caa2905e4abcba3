"""Build the Cython kernels, with OpenMP where the compiler supports it.

The extension is optional: if it cannot be built, fastgd still installs and runs
on the Numba backend, and ``backend="cython"`` raises an ImportError explaining how
to get it. Set FASTGD_CYTHON_DEBUG=1 to compile with bounds checks on.
"""

import os
import shutil
import sys
import tempfile
import textwrap

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
    """
)


def _banner(message):
    line = "*" * 78
    print(f"\n{line}\n{message}\n{line}\n", file=sys.stderr)


def _compiler_supports_openmp(compiler, flag):
    tmp = tempfile.mkdtemp(prefix="fastgd-openmp-")
    try:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write(OPENMP_PROBE)
        objects = compiler.compile([source], output_dir=tmp, extra_postargs=[flag])
        compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=[flag])
        return True
    except Exception:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExtWithOpenMP(build_ext):
    """Probe the compiler for OpenMP once, then build the extension with or without it."""

    def build_extensions(self):
        flag = "/openmp" if self.compiler.compiler_type == "msvc" else "-fopenmp"
        if _compiler_supports_openmp(self.compiler, flag):
            for ext in self.extensions:
                ext.extra_compile_args.append(flag)
                ext.extra_link_args.append(flag)
            print("fastgd: building the Cython kernels with OpenMP", file=sys.stderr)
        else:
            _banner(
                "fastgd: this compiler does not support OpenMP; the Cython kernels are\n"
                "built without it and will run on one thread."
            )
        super().build_extensions()

    def run(self):
        try:
            super().run()
        except Exception as exc:  # the extension is optional: see the module docstring
            _banner(
                "fastgd: the Cython extension could not be built "
                f"({type(exc).__name__}: {exc}).\n"
                "fastgd is installed with the Numba and NumPy backends only."
            )


def _extensions():
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        _banner(f"fastgd: Cython is not available ({exc}); building without the Cython kernels.")
        return []
    debug = os.environ.get("FASTGD_CYTHON_DEBUG") == "1"
    ext = Extension(
        "fastgd._cython_kernels",
        ["fastgd/_cython_kernels.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=["-O3"] if os.name != "nt" else ["/O2"],
        optional=True,
    )
    directives = {"boundscheck": True, "wraparound": True} if debug else {}
    try:
        return cythonize([ext], compiler_directives=directives, language_level=3)
    except Exception as exc:  # the extension is optional: see the module docstring
        _banner(f"fastgd: Cython could not translate the kernels ({exc}); building without them.")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExtWithOpenMP})
