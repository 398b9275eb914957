import re

from setuptools import find_packages, setup

VERSION = re.search(r'"(.+)"', open("tf_hptune/version.py", encoding="utf-8").read()).group(1)

TF = ["tensorflow==2.15.1", "tensorflow-estimator==2.15.0", "numpy<2"]

setup(
    name="tf-hptune",
    version=VERSION,
    description="Cloud ML Engine-style hyperparameter tuning for TensorFlow on your own machines",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["tf_hptune", "tf_hptune.*"]),
    install_requires=["numpy>=1.24,<2", "scipy>=1.10", "pyyaml>=6.0"],
    extras_require={
        # The Makefile installs tensorflow-cpu (or tensorflow[and-cuda]) itself; this extra is for
        # `pip install tf-hptune[tf]`.
        "tf": TF,
        # Ray 2.60 accepts the protobuf<5 that TensorFlow 2.15 needs: the two install together
        "ray": ["ray[default]>=2.60,<3", "protobuf<5"],
        "plot": ["matplotlib>=3.7"],  # tf_hptune.views.plot, `jobs plot`
        "tensorboard": ["tensorboard>=2.15"],  # the HParams data every job writes
        "test": ["pytest>=7.4", "pytest-timeout>=2.2", "hypothesis>=6.90"],
    },
    entry_points={"console_scripts": ["tf-hptune=tf_hptune.cli:main"]},
)
