"""The demos of `make demo` and `make demo-resnet`: the staged FCN-8s pipeline on a synthetic
VOC twin (staged), the FCN-ResNet recipe on a synthetic Cityscapes twin (resnet), what both
share (common); cli: `python -m solvers.demo [--recipe resnet]`. They call the library
(solvers.training, solvers.evaluation), never each other."""
