"""Builds `import edet`: python/edet (pure Python) + edet._edet (python/edet_module.cpp, one
translation unit compiled for this machine: -O3 -march=native -fopenmp, as the C++ tools).

    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation --no-index .
"""
import os
import re

from setuptools import Extension, setup

root = os.path.dirname(os.path.abspath(__file__))


def version():
    # One place: CMakeLists.txt's project(edet VERSION x.y.z).
    with open(os.path.join(root, "CMakeLists.txt")) as f:
        return re.search(r"project\(edet VERSION ([0-9.]+)", f.read()).group(1)


def pybind11_include():
    try:
        import pybind11
        return [pybind11.get_include()]
    except ImportError:  # Debian's pybind11-dev installs the headers in /usr/include
        return []


arch = os.environ.get("EDET_ARCH", "native")
arch_flags = [] if arch == "none" else [f"-march={arch}"]
ext = Extension(
    "edet._edet",
    sources=["python/edet_module.cpp"],
    # third_party first: the vendored stb_image.h must win over Debian's (io/image.hpp).
    include_dirs=["include", "third_party"] + pybind11_include() + ["/usr/include/stb"],
    define_macros=[("EDET_VERSION", f'"{version()}"')],
    extra_compile_args=["-std=c++17", "-O3", "-fopenmp", "-fvisibility=hidden", "-g0"] + arch_flags,
    extra_link_args=["-fopenmp"],
    language="c++",
)

setup(
    name="edet",
    version=version(),
    description="EfficientDet object detection on CPU (C++17 headers) from NumPy",
    packages=["edet"],
    package_dir={"": "python"},
    package_data={"edet": ["py.typed", "*.pyi"]},
    ext_modules=[ext],
    install_requires=["numpy"],
    python_requires=">=3.8",
    zip_safe=False,
)
