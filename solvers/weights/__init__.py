"""The published weights: the catalog command (cli: `python -m solvers.weights list | fetch |
verify`) over zoo.catalog and zoo.download."""
