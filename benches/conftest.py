"""Record, in pytest-benchmark's JSON, what fastgd bench's footnote says."""


def pytest_benchmark_update_json(config, benchmarks, output_json):
    from fastgd.bench.run import environment

    output_json.update(environment())
