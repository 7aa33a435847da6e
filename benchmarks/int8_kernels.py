"""`python -m benchmarks.int8_kernels`: runs `benchmarks.perf.int8_kernels` (the name kept from the flat layout)."""

from benchmarks.perf.int8_kernels import main

if __name__ == "__main__":
    main()
