"""`python -m solvers.demo [--recipe resnet] ...` (`make demo`, `make demo-resnet`): the
command's short name; the code is solvers.demos."""

from solvers.demos.cli import main

if __name__ == "__main__":
    main()
