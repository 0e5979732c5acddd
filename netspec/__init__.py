"""netspec (see DESIGN: being built)."""
