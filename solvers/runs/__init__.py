"""Run folders: where a model runs (folder), which paths its files name (paths), a fresh run's
claim on the folder (claim) and the weights it starts from (base_weights). Shared by training,
scoring and the demos; below them."""
