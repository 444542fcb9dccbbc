"""Export of GroupViT's zero-shot segmentation for deployment without PyTorch (ONNX)."""
from .onnx_export import export_onnx
from .onnx_graphs import ImageEmbeddingGraph, SegmentationGraph, TextEmbeddingGraph

__all__ = ["export_onnx", "SegmentationGraph", "ImageEmbeddingGraph", "TextEmbeddingGraph"]
