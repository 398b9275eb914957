import re

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "(.+)"', open("tf_hptune/version.py", encoding="utf-8").read())[1]

# TensorFlow lives in extras: the tuner core needs only numpy, scipy and pyyaml.
TF215 = ["tensorflow==2.15.1", "tensorflow-estimator==2.15.0", "numpy<2"]  # Python <= 3.11
# today's TensorFlow and Keras 3 (no tf.estimator); TensorFlow 2.21 no longer brings TensorBoard,
# which tf.summary needs
TF = ["tensorflow>=2.16", "keras>=3", "tensorboard>=2.16"]
NOTEBOOK = ["cloudpickle>=2.0", "pandas>=1.3", "matplotlib>=3.7"]

setup(
    name="tf-hptune",
    version=VERSION,
    description="Cloud ML Engine-style hyperparameter tuning for TensorFlow on your own machines",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["tf_hptune", "tf_hptune.*"]),
    install_requires=["numpy>=1.24", "scipy>=1.10", "pyyaml>=6.0"],
    extras_require={
        # The Makefile installs tensorflow-cpu (or tensorflow[and-cuda]) itself; these extras
        # are for `pip install 'tf-hptune[tf]'` (Keras 3) or `'tf-hptune[tf215]'` (Estimator).
        "tf": TF,
        "tf215": TF215,
        "notebook": NOTEBOOK,
        # Ray 2.60 accepts the protobuf<5 that TensorFlow 2.15 needs: the two install together
        "ray": ["ray[default]>=2.60,<3", "protobuf<5"],
        "plot": ["matplotlib>=3.7"],  # tf_hptune.views.plot, `jobs plot`
        "tensorboard": ["tensorboard>=2.15"],  # the HParams data every job writes
        "ray": ["ray[default]>=2.9"],
        "test": ["pytest>=7.4", "pytest-timeout>=2.2", "hypothesis>=6.90", "nbclient>=0.7",
                 "nbformat>=5.7", "ipykernel>=6"],
    },
    classifiers=[f"Programming Language :: Python :: 3.{v}" for v in range(9, 14)],
    entry_points={"console_scripts": ["tf-hptune=tf_hptune.cli:main"]},
)
