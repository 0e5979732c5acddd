#!/usr/bin/env bash
# Run caffeio's tests under several protobuf runtimes (3.20 .. 7.x), each installed into a
# temporary folder placed first on PYTHONPATH; with pycaffe's schema too when pycaffe is built.
#   scripts/check_protobuf_range.sh [PYTHON] [VERSIONS...]
set -uo pipefail
PY=${1:-.venv/bin/python}
shift || true
VERSIONS=${*:-3.20.3 4.21.12 4.25.9 5.29.6 6.33.6 7.36.2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for v in $VERSIONS; do
  "$PY" -m pip install -q --disable-pip-version-check --no-deps --target "$tmp/pb-$v" \
    "protobuf==$v" >/dev/null 2>&1 || { echo "protobuf $v: could not install"; status=1; continue; }
  for schema in own auto; do
    # CAFFEIO_SCHEMA=own: our own schema module; auto: pycaffe's when pycaffe is built
    out=$(PYTHONPATH="$tmp/pb-$v" CAFFEIO_SCHEMA=$schema FCN_ENGINE=torch GLOG_minloglevel=2 "$PY" -m pytest -q -p no:cacheprovider \
      tests/test_caffeio_io.py tests/test_caffeio_schema.py tests/test_netspec_builder.py 2>&1 | tail -1)
    used=$(PYTHONPATH="$tmp/pb-$v" CAFFEIO_SCHEMA=$schema "$PY" -c \
      "import google.protobuf as p, caffeio; from caffeio import _pb2_choice as c; print(p.__version__, c.source)" 2>&1 | tail -1)
    echo "protobuf $v (CAFFEIO_SCHEMA=$schema; runtime, schema used: $used): $out"
    [[ "$out" == *failed* || "$out" == *error* ]] && status=1
  done
done
exit $status
