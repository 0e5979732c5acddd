"""`python -m solvers.export`: a Caffe deploy net + caffemodel to ONNX and/or a state_dict.

    python -m solvers.export --proto models/voc-fcn8s/deploy.prototxt --weights W.caffemodel \\
        --onnx voc-fcn8s.onnx --state-dict voc-fcn8s.safetensors      # or .pt

After exporting, the ONNX file is checked with onnxruntime at two input sizes against
torchcaffe unless --no-check.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

import caffeio

from .convert import (
    INPUT_CONVENTION,
    CaffeModule,
    ExportError,
    check_onnx,
    export_onnx,
    load_caffe_params,
    load_into_module,
    save_state_dict,
    state_dict_from_caffemodel,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m solvers.export",
        description="Convert a Caffe deploy net + caffemodel to ONNX and/or a PyTorch state_dict.",
        epilog=f"Input convention of every output: {INPUT_CONVENTION}.",
    )
    p.add_argument("--proto", required=True, help="deploy prototxt (Input layer, no loss)")
    p.add_argument("--weights", required=True, help="caffemodel")
    p.add_argument("--onnx", help="output .onnx (dynamic batch, height, width)")
    p.add_argument("--state-dict", help="output .pt/.pth or .safetensors (Caffe layer names)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime check")
    p.add_argument(
        "--check-sizes", default="64x80,97x71", help="HxW,HxW sizes for the onnxruntime check"
    )
    return p.parse_args(argv)


def _sizes(text):
    out = []
    for part in text.split(","):
        try:
            h, w = (int(v) for v in part.lower().split("x"))
        except ValueError:
            raise ExportError(f"--check-sizes: '{part}' is not HxW (e.g. 64x80)") from None
        out.append((h, w))
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry; returns 0 on success (errors print one line and exit 1)."""
    torch.set_num_threads(min(torch.get_num_threads(), os.cpu_count() or 1))
    args = parse_args(argv)
    try:
        if not args.onnx and not args.state_dict:
            raise ExportError("nothing to do: give --onnx and/or --state-dict")
        if not os.path.isfile(args.proto):
            raise ExportError(f"--proto {args.proto}: no such file")
        params = load_caffe_params(args.weights)
        module = CaffeModule(args.proto).load_caffe_params(params).eval()
        print(f"{args.proto}: inputs {module.inputs} -> outputs {module.outputs}")
        if args.state_dict:
            state = state_dict_from_caffemodel(args.weights)
            load_into_module(CaffeModule(args.proto), state)  # proves it reloads
            save_state_dict(state, args.state_dict, source=os.path.basename(args.weights))
            print(f"wrote {args.state_dict} ({len(state)} tensors, Caffe layer names)")
        if args.onnx:
            export_onnx(module, args.onnx, opset=args.opset)
            print(f"wrote {args.onnx} (dynamic batch, height, width; opset {args.opset})")
            if not args.no_check:
                for size, name, err in check_onnx(
                    args.onnx, args.proto, args.weights, _sizes(args.check_sizes)
                ):
                    print(
                        f"  onnxruntime vs torchcaffe at {size[0]}x{size[1]}: {name} "
                        f"max|diff|/max|score| = {err:.2e}"
                    )
        print(f"input convention: {INPUT_CONVENTION}")
    except (ExportError, caffeio.CaffeFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
