#!/usr/bin/env bash
# make pycaffe: build BVLC Caffe (master) with pycaffe for the project's virtualenv.
#
#   scripts/build_pycaffe.sh build PYTHON   # build (or reuse) and link into PYTHON's venv
#   scripts/build_pycaffe.sh link  PYTHON   # link an existing compatible build, quietly; no-op if none
#
# Environment: CAFFE_SRC=<dir>  a BVLC/caffe checkout, unpacked tarball or bare git mirror
#              (default: git clone of github.com/BVLC/caffe when online)
#              CUDA=1           GPU build (CUDA_DIR=/usr/local/cuda, CUDA_ARCH auto from nvcc)
#              OPENCV=1         with OpenCV (Debian libopencv-dev), in its own variant folder
#                               (<cpu|cuda>-opencv-py3.X-npN): ImageData, WindowData and
#                               encoded Datum records exist only there
#              JOBS=N           parallel compile jobs (default: nproc)
#              FCN_CACHE=<dir>  where builds live (default ~/.cache/fcn-toolkit); never the repo
#
# The build lives outside the repository: $FCN_CACHE/caffe/<variant>/ holds a copy of the source
# (with the two modern-toolchain fixes applied), its Makefile.config and the compiled tree. The
# venv gets one file, site-packages/fcn-pycaffe.pth, pointing at <build>/python, plus `six`
# (pycaffe imports it). Nothing of Caffe's source enters this repository.
set -euo pipefail

mode=${1:-}
PY=${2:-}
if [[ -z "$mode" || -z "$PY" ]]; then
  echo "usage: $0 build|link PYTHON" >&2
  exit 2
fi
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
HERE=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${FCN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fcn-toolkit}
CUDA=${CUDA:-0}
OPENCV=${OPENCV:-0}

say() { printf 'make pycaffe: %s\n' "$*" >&2; }
die() { printf 'make pycaffe: error: %s\n' "$*" >&2; exit 1; }

# What the build must match: the interpreter (boost_python3X, headers) and numpy's C API (a
# pycaffe compiled against numpy 1.x does not import under numpy 2.x and vice versa).
read -r PYVER PYINC PYLIBDIR PYSHARED NPVER NPINC SITE < <("$PY" - <<'EOF'
import site, sysconfig, sys
import numpy
v = sysconfig.get_paths()
print(f"{sys.version_info[0]}.{sys.version_info[1]}", v["include"],
      sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("Py_ENABLE_SHARED") or 0,
      numpy.__version__, numpy.get_include(), site.getsitepackages()[0])
EOF
)
NPMAJOR=${NPVER%%.*}
VARIANT=$([[ "$CUDA" == 1 ]] && echo cuda || echo cpu)
[[ "$OPENCV" != 1 ]] || VARIANT=$VARIANT-opencv
VARIANT=$VARIANT-py${PYVER}-np${NPMAJOR}
BUILD=$CACHE/caffe/$VARIANT
PTH=$SITE/fcn-pycaffe.pth

link() {
  "$PY" -m pip install -q --disable-pip-version-check six >/dev/null 2>&1 \
    || die "pip could not install six (pycaffe imports it)"
  echo "$BUILD/python" >"$PTH"
}

check_import() {
  # Import caffe in the venv and build a one-layer net: proof that the build works.
  OPENCV=$OPENCV GLOG_minloglevel=2 "$PY" - <<'EOF'
import os, tempfile
import caffe
caffe.set_mode_cpu()
if os.environ["OPENCV"] == "1":
    assert "ImageData" in caffe.layer_type_list(), "built without OpenCV"
proto = 'name: "t" layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 2 dim: 2 } } }\nlayer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n'
with tempfile.NamedTemporaryFile("w", suffix=".prototxt", delete=False) as f:
    f.write(proto)
try:
    net = caffe.Net(f.name, caffe.TEST)
    net.blobs["data"].data[...] = [[[[-1, 2], [3, -4]]]]
    out = net.forward()["r"]
    assert out.tolist() == [[[[0, 2], [3, 0]]]], out
finally:
    os.unlink(f.name)
print(f"pycaffe OK: {caffe.__file__} (caffe {caffe.__version__})")
EOF
}

if [[ "$mode" == link ]]; then
  # Used by `make test`: wire in an existing build made for this interpreter and numpy major.
  if [[ -f "$BUILD/.built" ]]; then
    link
    say "linked $BUILD/python into $(dirname "$PY")/.. ($VARIANT)"
  fi
  exit 0
fi
[[ "$mode" == build ]] || die "unknown mode '$mode' (build or link)"

# -- system packages ---------------------------------------------------------------------------
PKGS="build-essential libprotobuf-dev protobuf-compiler libgoogle-glog-dev libgflags-dev \
libhdf5-dev libleveldb-dev libsnappy-dev liblmdb-dev libopenblas-dev libboost-system-dev \
libboost-filesystem-dev libboost-thread-dev libboost-python-dev"
[[ "$OPENCV" != 1 ]] || PKGS="$PKGS libopencv-dev"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [[ -n "$missing" ]]; then
  if ! command -v apt-get >/dev/null; then
    die "not a Debian/Ubuntu system: install the equivalents of:$missing"
  fi
  SUDO=""
  [[ $(id -u) == 0 ]] || SUDO="sudo"
  say "installing system packages:$missing"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null \
    || die "apt-get could not install:$missing (install them and run make pycaffe again)"
fi
BOOST_PY=boost_python${PYVER/./}
compgen -G "/usr/lib/*/lib${BOOST_PY}.so" >/dev/null || compgen -G "/usr/lib/lib${BOOST_PY}.so" >/dev/null \
  || die "lib${BOOST_PY}.so not found: libboost-python-dev on this system does not build for \
Python $PYVER (use a venv of the system's Python 3 version)"
[[ "$PYSHARED" == 1 ]] || say "warning: $PY has no shared libpython; Python layers may not load"

# -- source --------------------------------------------------------------------------------------
if [[ -f "$BUILD/.built" && -z "${CAFFE_REBUILD:-}" ]]; then
  say "reusing the build in $BUILD (CAFFE_REBUILD=1 to build again)"
  link
  check_import
  exit 0
fi
mkdir -p "$BUILD"
SRC=$BUILD/src
rm -rf "$SRC.new"
mkdir -p "$SRC.new"
if [[ -n "${CAFFE_SRC:-}" ]]; then
  [[ -d "$CAFFE_SRC" ]] || die "CAFFE_SRC=$CAFFE_SRC is not a folder"
  if git -C "$CAFFE_SRC" rev-parse --is-bare-repository 2>/dev/null | grep -q true; then
    say "source: git mirror $CAFFE_SRC ($(git -C "$CAFFE_SRC" log -1 --format=%h HEAD))"
    git -C "$CAFFE_SRC" archive HEAD | tar -x -C "$SRC.new"
  elif [[ -f "$CAFFE_SRC/Makefile" && -d "$CAFFE_SRC/src/caffe" ]]; then
    say "source: $CAFFE_SRC"
    (cd "$CAFFE_SRC" && tar --exclude=.git --exclude=./build --exclude=./.build_release -cf - .) \
      | tar -x -C "$SRC.new"
  else
    die "CAFFE_SRC=$CAFFE_SRC is neither a BVLC/caffe source tree (Makefile, src/caffe/) nor a \
bare git repository of it"
  fi
else
  say "source: cloning https://github.com/BVLC/caffe (set CAFFE_SRC=<dir> to use a local copy)"
  git clone -q --depth 1 https://github.com/BVLC/caffe "$SRC.new/clone" \
    || die "git clone failed (offline?): download BVLC/caffe master (a checkout or tarball) and \
run  make pycaffe CAFFE_SRC=<its folder>"
  mv "$SRC.new/clone"/* "$SRC.new/" && rm -rf "$SRC.new/clone"
fi
rm -rf "$SRC"
mv "$SRC.new" "$SRC"

# -- modern-toolchain fixes, on the build copy only ----------------------------------------------
# protobuf >= 3.11: CodedInputStream::SetTotalBytesLimit takes one argument.
sed -i 's/SetTotalBytesLimit(kProtoReadBytesLimit, [0-9]*)/SetTotalBytesLimit(kProtoReadBytesLimit)/' \
  "$SRC/src/caffe/util/io.cpp"
# scikit-image at module level in caffe/io.py: optional (nothing the toolkit uses needs it).
"$PY" - "$SRC/python/caffe/io.py" <<'EOF'
import sys
path = sys.argv[1]
text = open(path).read()
old = "import skimage.io\nfrom scipy.ndimage import zoom\nfrom skimage.transform import resize\n"
new = ("try:\n    import skimage.io\n    from skimage.transform import resize\nexcept ImportError:"
       "\n    skimage = resize = None  # only load_image/resize_image need it\n"
       "from scipy.ndimage import zoom\n")
if old in text:
    open(path, "w").write(text.replace(old, new))
EOF

# OpenCV 4 dropped the C constants CV_LOAD_IMAGE_{COLOR,GRAYSCALE} that Caffe's imread calls use.
if [[ "$OPENCV" == 1 ]]; then
  grep -rl 'CV_LOAD_IMAGE_' "$SRC/src" | xargs -r sed -i \
    -e 's/CV_LOAD_IMAGE_COLOR/cv::IMREAD_COLOR/g' -e 's/CV_LOAD_IMAGE_GRAYSCALE/cv::IMREAD_GRAYSCALE/g'
fi

# -- Makefile.config ------------------------------------------------------------------------------
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
{
  echo "# written by fcn-toolkit scripts/build_pycaffe.sh ($VARIANT)"
  if [[ "$CUDA" == 1 ]]; then
    CUDA_DIR=${CUDA_DIR:-/usr/local/cuda}
    NVCC=$CUDA_DIR/bin/nvcc
    [[ -x "$NVCC" ]] || die "CUDA=1 but $NVCC not found (set CUDA_DIR)"
    # Every real architecture this nvcc supports from sm_50 up (Caffe's default list names
    # sm_20/21, which current nvcc rejects), plus PTX for the newest.
    archs=$("$NVCC" --list-gpu-arch 2>/dev/null | sed -n 's/compute_//p' | awk '$1>=50' | sort -n)
    [[ -n "$archs" ]] || archs="50 60 70 75 80 86 90"
    echo "CUDA_DIR := $CUDA_DIR"
    printf 'CUDA_ARCH :='
    for a in $archs; do printf ' -gencode arch=compute_%s,code=sm_%s' "$a" "$a"; done
    last=$(echo "$archs" | tail -1)
    printf ' -gencode arch=compute_%s,code=compute_%s\n' "$last" "$last"
    cudnn_major=$(grep -h '#define CUDNN_MAJOR' "$CUDA_DIR"/include/cudnn*.h /usr/include/cudnn*.h \
      2>/dev/null | awk '{print $3}' | head -1)
    if [[ -n "$cudnn_major" && "$cudnn_major" -le 7 ]]; then
      echo "USE_CUDNN := 1"
    else
      say "cuDNN ${cudnn_major:-absent}: Caffe master builds only against cuDNN <= 7, building without it"
    fi
  else
    echo "CPU_ONLY := 1"
  fi
  OPENCV_INC=""
  if [[ "$OPENCV" == 1 ]]; then
    echo "USE_OPENCV := 1"
    echo "OPENCV_VERSION := 3"  # 3 and 4 both link opencv_imgcodecs
    [[ -d /usr/include/opencv4 ]] && OPENCV_INC=/usr/include/opencv4
  else
    echo "USE_OPENCV := 0"
  fi
  echo "USE_LEVELDB := 1"
  echo "USE_LMDB := 1"
  echo "BLAS := open"
  echo "PYTHON_INCLUDE := $PYINC $NPINC"
  echo "PYTHON_LIB := $PYLIBDIR"
  echo "PYTHON_LIBRARIES := $BOOST_PY python$PYVER"
  echo "WITH_PYTHON_LAYER := 1"
  echo "INCLUDE_DIRS := \$(PYTHON_INCLUDE) /usr/local/include /usr/include/hdf5/serial $OPENCV_INC"
  echo "LIBRARY_DIRS := \$(PYTHON_LIB) /usr/local/lib /usr/lib /usr/lib/$MULTIARCH/hdf5/serial"
  # libpython outside the system folders (pyenv, conda): find it at run time too.
  echo "LINKFLAGS := -Wl,-rpath,$PYLIBDIR"
  echo "BUILD_DIR := build"
  echo "DISTRIBUTE_DIR := distribute"
  echo "Q ?= @"
} >"$SRC/Makefile.config"

# -- compile --------------------------------------------------------------------------------------
JOBS=${JOBS:-$(nproc)}
say "compiling in $SRC with $JOBS jobs (numpy $NPVER, Python $PYVER; 2-6 min on 2 cores)"
start=$(date +%s)
(cd "$SRC" && make -j"$JOBS" all pycaffe >"$BUILD/build.log" 2>&1) \
  || { tail -30 "$BUILD/build.log" >&2; die "compile failed; full log: $BUILD/build.log"; }
secs=$(( $(date +%s) - start ))
ln -sfn "$SRC/python" "$BUILD/python"
link
check_import
git_rev=$(git -C "${CAFFE_SRC:-$SRC}" log -1 --format=%h HEAD 2>/dev/null || echo unknown)
printf 'variant %s\nnumpy %s\nsource %s\ncompile_seconds %s\n' "$VARIANT" "$NPVER" "$git_rev" \
  "$secs" >"$BUILD/.built"
du_mb=$(du -sm "$BUILD" | cut -f1)
say "done in $((secs / 60)) min $((secs % 60)) s; $du_mb MB in $BUILD; linked by $PTH"
