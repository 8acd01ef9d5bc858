"""kedro-kinetic benchmarks (not tests): ``python -m benchmarks.run --sizes small|full``.

See ``benchmarks/README.md``. Results go to ``benchmarks/results/`` (git-ignored);
``benchmarks/RESULTS.md`` holds the numbers of the last full run.
"""
