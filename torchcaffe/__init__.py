"""torchcaffe (see DESIGN: being built)."""
