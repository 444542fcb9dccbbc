"""The three traceable views of a GroupViT that tools/export_onnx.py writes to ONNX.

Each wraps the model's own methods (segment_crops, encode_image, encode_text), so the exported
graphs compute what the PyTorch zero-shot path computes; nothing of the rule is written again.
"""
import torch
import torch.nn as nn

from ..modeling.groupvit.zero_shot import cumulative_group_maps

__all__ = ["SegmentationGraph", "ImageEmbeddingGraph", "TextEmbeddingGraph"]


class SegmentationGraph(nn.Module):
    """(n, 3, h, w) normalised windows and (C, D) normalised class embeddings -> (n, 1 + C, h, w):
    the background channel under `background_threshold`, then the per-class scores of
    GroupViT.segment_crops (soft stage maps, argmax group, the image's top-k classes)."""

    def __init__(self, model, background_threshold: float):
        super().__init__()
        if model.grouping != "groups" or not model.backbone.num_output_groups:
            raise ValueError(
                "ONNX export needs the learned grouping (MODEL.GROUPVIT.ZERO_SHOT.GROUPING 'groups' on a model "
                f"with grouping stages); got GROUPING {model.grouping!r}: the clustering baselines run scikit-learn"
            )
        self.model = model
        self.background_threshold = float(background_threshold)

    def forward(self, window, class_embeddings):
        return self.model.segment_crops(window, class_embeddings, self.background_threshold)


class ImageEmbeddingGraph(nn.Module):
    """(n, 3, h, w) normalised windows -> image_embeds (n, D), group_embeds (n, G, D) (projected,
    un-normalised) and, per grouping stage, the soft patch-to-group map (n, N, G_l)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, window):
        out = self.model.encode_image(window)
        maps = cumulative_group_maps(out["vision"].soft_assignments)
        return (out["image_embeds"], out["group_embeds"], *maps)


class TextEmbeddingGraph(nn.Module):
    """(N, L) token ids, L the context length -> (N, D) projected, un-normalised text embeddings."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens):
        return self.model.encode_text(tokens)

    @staticmethod
    def example_tokens(context_length: int, num_texts: int = 2) -> torch.Tensor:
        """Ids whose first row ends at the last position. The text encoder drops the padding after
        the batch's last end-of-text token; with one text filling the context, the traced slice
        keeps every position, so texts of any length run through the graph unchanged."""
        tokens = torch.zeros(num_texts, context_length, dtype=torch.long)
        tokens[:, 0] = 49406  # start of text
        tokens[:, 1:-1] = torch.arange(1, context_length - 1) % 1000 + 320
        tokens[0, -1] = 49407  # end of text, the largest id
        for row in range(1, num_texts):
            end = 2 + row % max(1, context_length - 2)
            tokens[row, end] = 49407
            tokens[row, end + 1 :] = 0
        return tokens
