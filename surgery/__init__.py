"""surgery (see DESIGN: being built)."""
