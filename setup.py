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


def _compiler_accepts(compiler, flags, source=OPENMP_PROBE):
    """Whether the compiler compiles and links ``source`` with ``flags``."""
    tmp = tempfile.mkdtemp(prefix="fastgd-probe-")
    try:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(source)
        objects = compiler.compile([path], output_dir=tmp, extra_postargs=flags)
        compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=flags)
        return True
    except Exception:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExtWithOpenMP(build_ext):
    """Probe the compiler once, then build the extension with what it supports.

    - OpenMP (the kernels' prange): without it the kernels run on one thread.
    - ``-march=native``: SIMD for this machine's CPU, as Numba's JIT gets. Set
      FASTGD_PORTABLE=1 to build for the generic architecture (e.g. for a wheel).
    - ``-ffp-contract=off``: no fused multiply-add, so the Cython kernels round
      exactly as the Numba kernels do (tests/test_threads.py checks it bit for bit).
    """

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        flags = []
        if not msvc:
            flags.append("-ffp-contract=off")
            native = os.environ.get("FASTGD_PORTABLE") != "1"
            plain = "int main(void) { return 0; }\n"
            if native and _compiler_accepts(self.compiler, ["-march=native"], plain):
                flags.append("-march=native")
        openmp = "/openmp" if msvc else "-fopenmp"
        if _compiler_accepts(self.compiler, [openmp]):
            print("fastgd: building the Cython kernels with OpenMP", file=sys.stderr)
            flags.append(openmp)
        else:
            _banner(
                "fastgd: this compiler does not support OpenMP; the Cython kernels are\n"
                "built without it and will run on one thread."
            )
        for ext in self.extensions:
            ext.extra_compile_args.extend(flags)
            if openmp in flags:
                ext.extra_link_args.append(openmp)
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
            _remove_stale_extension()


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
        depends=[f"fastgd/{name}.h" for name in ("_lanes", "_gram", "_accurate", "_prefetch")],
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
        _remove_stale_extension()
        return []


def _remove_stale_extension():
    """Delete an extension left in fastgd/ by an earlier in-place (editable) build:
    without this, a failed rebuild would leave the old kernels importable, silently
    out of step with the Python code that calls them."""
    import glob

    for path in glob.glob(os.path.join("fastgd", "_cython_kernels.*.so")) + glob.glob(
        os.path.join("fastgd", "_cython_kernels.*.pyd")
    ):
        os.remove(path)
        _banner(f"fastgd: removed the stale extension {path}.")


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExtWithOpenMP})
