"""solvers (see DESIGN: being built)."""
