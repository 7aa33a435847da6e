"""`python -m benchmarks.decode_attention`: runs `benchmarks.perf.decode_attention` (the name kept from the flat layout)."""

from benchmarks.perf.decode_attention import main

if __name__ == "__main__":
    main()
