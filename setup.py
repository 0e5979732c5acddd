"""FCN toolkit: Caffe-compatible net specs, weight surgery, data layers and solvers for FCNs."""

from setuptools import find_packages, setup

TOP = ["caffeio", "netspec", "zoo", "surgery", "torchcaffe", "engine", "layers", "solvers"]

setup(
    name="fcn-toolkit",
    version="0.1.0",
    description="Fully Convolutional Networks (Long, Shelhamer, Darrell), Caffe-compatible",
    python_requires=">=3.10",
    packages=find_packages(include=[p for t in TOP for p in (t, t + ".*")]),
    package_data={"caffeio": ["caffe.proto"]},
    install_requires=[
        "numpy>=1.23",
        # caffeio/_caffe_pb2.py has no gencode pin (caffeio/genproto.py): every runtime with the
        # builder API works; scripts/check_protobuf_range.sh runs caffeio's tests on 3.20 .. 7.x.
        "protobuf>=3.20,<8",
        "scipy>=1.9",
        "pillow>=9",
        "tqdm>=4.60",
        "matplotlib>=3.5",  # make demo's curves (solvers.plotlog)
        "safetensors>=0.4",  # solvers.export --state-dict x.safetensors
    ],
    extras_require={
        # torchcaffe, the engine when BVLC pycaffe is absent; pycaffe users can go without torch
        "torch": ["torch>=2.1"],
        "lmdb": ["lmdb>=1.4"],
        "leveldb": ["plyvel>=1.5"],  # torchcaffe's Data layer with backend: LEVELDB
        "hdf5": ["h5py>=3.8"],  # torchcaffe's HDF5Data and HDF5Output layers
        "export": ["onnx>=1.14", "onnxruntime>=1.16"],
        # torchcaffe.draw (pycaffe's caffe.draw); PNG/SVG also need Graphviz's `dot` program
        "draw": ["pydot>=1.4"],
    },
)
