"""Record, in the benchmark JSON, what the report's footnote needs."""

import platform


def pytest_benchmark_update_json(config, benchmarks, output_json):
    import numba
    import numpy
    import sklearn
    import threadpoolctl

    import fastgd
    from fastgd._backends import get_backend

    output_json["versions"] = {
        "fastgd": fastgd.__version__, "numpy": numpy.__version__, "numba": numba.__version__,
        "scikit-learn": sklearn.__version__, "python": platform.python_version(),
    }
    blas = [f"{lib['internal_api']} {lib['version']} ({lib['num_threads']} threads)"
            for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    output_json["threads"] = (
        f"numba {get_backend('numba').kernels.max_threads()}, "
        f"cython/OpenMP {get_backend('cython').kernels.max_threads()}, "
        f"NumPy's BLAS: {', '.join(blas) or 'none found'}"
    )
