from setuptools import find_packages, setup

setup(
    name="groupvit_d2",
    version="0.1.0",
    description="GroupViT (hierarchical grouping vision transformer) as a Detectron2 plugin",
    packages=find_packages(exclude=("tests", "configs", "datasets", "tools", "benchmarks", "demo")),
    python_requires=">=3.9",
    # torch, torchvision and Detectron2 are left to tools/install_deps.sh: pip cannot express
    # "install Detectron2 only where it is missing", and the torch build depends on the machine.
    install_requires=[
        "numpy<2",
        "open_clip_torch",
        "webdataset",
        "nltk",
        "ftfy",
        "pycocotools",
        "fvcore",
        "iopath",
        "timm",
        "scipy",
        "scikit-learn",
        "matplotlib",
        "safetensors",
    ],
    extras_require={
        "test": ["pytest", "transformers>=4.30"],
        # tools/export_onnx.py and the numpy runner it writes.
        "onnx": ["onnx", "onnxruntime"],
        # demo/app.py and its browser test (Chromium itself comes from the system's packages).
        "app": ["gradio", "selenium"],
    },
)
