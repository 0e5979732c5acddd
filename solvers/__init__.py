"""Training, scoring, inference, export, pictures and demos over either engine."""
