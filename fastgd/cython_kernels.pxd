# fastgd's kernels for users' own Cython loops (docs/user_guide/kernels.md: "Kernels
# for your own compiled loops"). In a .pyx compiled with fastgd.get_include() on Cython's include path:
#
#     from fastgd.cython_kernels cimport GradientWorkspace, gradient_float64, step_float64
#
# Defined in fastgd/_cython_kernels.pyx (its last section documents them).
from fastgd._cython_kernels cimport (
    GradientWorkspace,
    gradient_float32,
    gradient_float64,
    step_float32,
    step_float64,
)
