"""Evaluation: the FCN metrics (metrics), scoring a net over a split (score), scoring large
images with the net split from its data layer (splitnet: whole, tiled, sliding), exact tiles
(tiled) and sliding windows (sliding), scoring a zoo model's weights (score_model); cli: the
command line of models/<m>/score.py."""
