"""Export out of Caffe: a deploy net as a plain PyTorch module (CaffeModule), its weights as a
state_dict (.pt, .safetensors) and ONNX (convert); cli: `python -m solvers.export`. Needs torch."""

from .convert import (
    INPUT_CONVENTION,
    CaffeModule,
    ExportError,
    check_onnx,
    export_onnx,
    exportable_types,
    load_caffe_params,
    load_into_module,
    load_state_dict_file,
    save_state_dict,
    state_dict_from_caffemodel,
)

__all__ = [
    "INPUT_CONVENTION",
    "CaffeModule",
    "ExportError",
    "check_onnx",
    "export_onnx",
    "exportable_types",
    "load_caffe_params",
    "load_into_module",
    "load_state_dict_file",
    "save_state_dict",
    "state_dict_from_caffemodel",
]
