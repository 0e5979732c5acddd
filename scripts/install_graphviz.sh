#!/usr/bin/env bash
# Graphviz's `dot`, which torchcaffe.draw (pycaffe's caffe.draw) needs to write PNG/SVG net
# diagrams: installed with apt-get when it is missing and this is a Debian/Ubuntu system where
# we are root or have passwordless sudo; otherwise a note (diagrams then need it installed by
# hand; the tests that render one skip with that reason). Called by make setup / make test.
set -uo pipefail
command -v dot >/dev/null 2>&1 && exit 0
say() { echo "install_graphviz: $*" >&2; }
if ! command -v apt-get >/dev/null 2>&1; then
  say "no Graphviz 'dot' and no apt-get: install Graphviz to draw nets (torchcaffe.draw)"
  exit 0
fi
SUDO=""
if [[ $(id -u) != 0 ]]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    say "no Graphviz 'dot': run 'sudo apt-get install graphviz' to draw nets (torchcaffe.draw)"
    exit 0
  fi
fi
say "installing graphviz (Debian package) for torchcaffe.draw"
$SUDO apt-get update -qq >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null 2>&1 \
  || say "apt-get could not install graphviz: install it by hand to draw nets"
exit 0
