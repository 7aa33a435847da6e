"""`python -m benchmarks.make_code_interpreter_sample`: runs `benchmarks.code_interpreter.make_sample` (the name kept from the flat layout)."""

from benchmarks.code_interpreter.make_sample import main

if __name__ == "__main__":
    main()
