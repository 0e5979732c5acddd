"""python -m torchcaffe: every variable torchcaffe reads (torchcaffe.options), its value here and
what it does, then the engine line: this host's CPU and the choices made for it."""

from . import describe_device, options, startup

if __name__ == "__main__":
    print("\n".join(options.report(startup.set_by_torchcaffe())))
    print()
    print(f"engine: torchcaffe ({describe_device()})")
