"""The programs of the toolkit, in subpackages (bottom first: each imports only those below):

    pictures/    label maps as images (VOC palette, overlays, panels), training curves (plotlog)
    runs/        run folders: where a model runs, paths resolved against it, base weights
    evaluation/  metrics, scoring a net over a split (whole, exact tiles, sliding windows),
                 scoring a model's weights; models/<m>/score.py's command line
    training/    the training driver (a loop over engine/'s adapters), its run, logs,
                 snapshots, divergence rules; models/<m>/solve.py's command line
    inference/   segmenting your own pictures (python -m solvers.infer)
    export/      ONNX and state_dict export (python -m solvers.export)
    weights/     the published weights' catalog command (python -m solvers.weights)
    demos/       make demo, make demo-resnet (python -m solvers.demo)

infer.py, demo.py and plotlog.py here are the short names of their commands. Library functions
take their options as parameters; the command lines turn flags into one call.
"""
