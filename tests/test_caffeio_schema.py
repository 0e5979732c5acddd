"""The committed schema module is generated from caffe.proto, the schema matches BVLC numbers,
and the module in use (ours, or pycaffe's when pycaffe is present) agrees with ours."""

import os
import subprocess
import sys

import pytest

from caffeio import _pb2_choice, caffe_pb2, genproto

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def test_generated_module_in_sync_with_schema():
    pytest.importorskip(
        "grpc_tools", reason="grpcio-tools (a test dependency) compiles caffe.proto"
    )
    from google.protobuf import descriptor_pb2

    fresh = descriptor_pb2.FileDescriptorProto.FromString(genproto.compile_descriptor())
    assert fresh == genproto.committed_descriptor(), (
        "caffeio/_caffe_pb2.py is stale: run `make proto` and commit it"
    )
    with open(genproto.OUT) as f:
        text = f.read()
    assert "runtime_version" not in text, "the module must not pin a protobuf gencode version"


def test_module_in_use_has_every_field_of_ours():
    """pycaffe's module (when it is the one in use) is a superset of ours: same numbers, types,
    labels and defaults for every field we read or write."""
    ours = genproto.committed_descriptor()
    pool_file = caffe_pb2.DESCRIPTOR
    checked = 0
    for top in ours.message_type:
        for msg, full in _walk(top, "caffe." + top.name):
            live = pool_file.pool.FindMessageTypeByName(full)
            for f in msg.field:
                lf = live.fields_by_name.get(f.name)
                assert lf is not None, f"{full}.{f.name} missing from {caffe_pb2.__file__}"
                assert (lf.number, lf.type) == (f.number, f.type), f"{full}.{f.name}"
                checked += 1
    assert checked > 300


def _walk(msg, full):
    yield msg, full
    for nested in msg.nested_type:
        yield from _walk(nested, f"{full}.{nested.name}")


def test_one_module_per_process_in_either_order():
    """caffeio first or pycaffe first: one caffe_pb2 module, no 'duplicate symbol' error."""
    if _pb2_choice.pycaffe_pb2_path() is None:
        pytest.skip("no built pycaffe on sys.path (make pycaffe): nothing to share a schema with")
    for code in (
        "import caffeio, caffe; from caffeio import caffe_pb2 as a; "
        "from caffe.proto import caffe_pb2 as b; assert a is b, (a, b)",
        "import caffe, caffeio; from caffeio import caffe_pb2 as a; "
        "from caffe.proto import caffe_pb2 as b; assert a is b, (a, b)",
    ):
        env = dict(os.environ, GLOG_minloglevel="2", FCN_ENGINE="auto")
        r = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, timeout=120
        )
        assert r.returncode == 0, r.stderr.decode()[-2000:]


def _num(msg, field):
    return msg.DESCRIPTOR.fields_by_name[field].number


# Field numbers from the table in docs/caffe-formats.md (BVLC master); a binary file written with a
# wrong number would not load in Caffe.
EXPECTED = {
    caffe_pb2.NetParameter: dict(
        name=1,
        layers=2,
        input=3,
        input_dim=4,
        force_backward=5,
        state=6,
        debug_info=7,
        input_shape=8,
        layer=100,
    ),
    caffe_pb2.LayerParameter: dict(
        name=1,
        type=2,
        bottom=3,
        top=4,
        loss_weight=5,
        param=6,
        blobs=7,
        include=8,
        exclude=9,
        phase=10,
        propagate_down=11,
        transform_param=100,
        loss_param=101,
        accuracy_param=102,
        argmax_param=103,
        concat_param=104,
        convolution_param=106,
        data_param=107,
        dropout_param=108,
        eltwise_param=110,
        inner_product_param=117,
        lrn_param=118,
        pooling_param=121,
        relu_param=123,
        softmax_param=125,
        python_param=130,
        reshape_param=133,
        batch_norm_param=139,
        bias_param=141,
        scale_param=142,
        input_param=143,
        crop_param=144,
    ),
    caffe_pb2.ParamSpec: dict(name=1, share_mode=2, lr_mult=3, decay_mult=4),
    caffe_pb2.BlobProto: dict(
        num=1, channels=2, height=3, width=4, data=5, diff=6, shape=7, double_data=8, double_diff=9
    ),
    caffe_pb2.BlobShape: dict(dim=1),
    caffe_pb2.NetStateRule: dict(phase=1, min_level=2, max_level=3, stage=4, not_stage=5),
    caffe_pb2.V1LayerParameter: dict(
        bottom=2,
        top=3,
        name=4,
        type=5,
        blobs=6,
        blobs_lr=7,
        weight_decay=8,
        include=32,
        exclude=33,
        loss_weight=35,
        param=1001,
        convolution_param=10,
        dropout_param=12,
        inner_product_param=17,
        lrn_param=18,
        pooling_param=19,
        loss_param=42,
    ),
    caffe_pb2.SolverState: dict(iter=1, learned_net=2, history=3, current_step=4),
}


@pytest.mark.parametrize("msg", list(EXPECTED), ids=lambda m: m.DESCRIPTOR.name)
def test_field_numbers(msg):
    got = {f: _num(msg, f) for f in EXPECTED[msg]}
    assert got == EXPECTED[msg]
    # and in our own schema, whichever module this process uses
    ours = {m.name: m for m in genproto.committed_descriptor().message_type}[msg.DESCRIPTOR.name]
    own = {f.name: f.number for f in ours.field}
    assert {f: own[f] for f in EXPECTED[msg]} == EXPECTED[msg]


def test_enums_and_defaults():
    V1 = caffe_pb2.V1LayerParameter
    assert (V1.CONCAT, V1.CONVOLUTION, V1.DATA, V1.DROPOUT, V1.INNER_PRODUCT, V1.LRN) == (
        3,
        4,
        5,
        6,
        14,
        15,
    )
    assert (V1.POOLING, V1.RELU, V1.SOFTMAX, V1.SOFTMAX_LOSS, V1.ELTWISE, V1.DECONVOLUTION) == (
        17,
        18,
        20,
        21,
        25,
        39,
    )
    assert caffe_pb2.TRAIN == 0 and caffe_pb2.TEST == 1
    spec = caffe_pb2.ParamSpec()
    assert spec.lr_mult == 1 and spec.decay_mult == 1
    assert caffe_pb2.FillerParameter().type == "constant"
    assert caffe_pb2.FillerParameter().value == 0
    assert caffe_pb2.PoolingParameter().round_mode == caffe_pb2.PoolingParameter.CEIL
    assert caffe_pb2.CropParameter().axis == 2
    assert caffe_pb2.ConcatParameter().axis == 1
    loss = caffe_pb2.LossParameter()
    assert loss.normalization == caffe_pb2.LossParameter.VALID and not loss.HasField("normalize")
    assert caffe_pb2.SolverParameter().type == "SGD"
    assert caffe_pb2.SolverParameter().iter_size == 1
