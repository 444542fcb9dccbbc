"""Image embedding from a ViT's tokens: CLIPpy's max pooling, average pooling or the class token."""

__all__ = ["AGGREGATIONS", "aggregate"]

AGGREGATIONS = ("max", "avg", "cls")


def aggregate(patch_emb, cls_emb, mode):
    """Collapse per-patch embeddings into one per image (CLIPpy paper, sec. 2.1).

    Args:
        patch_emb: (B, N, D) projected patch embeddings.
        cls_emb: (B, D) projected class token, or None when the tower has none.
        mode: "max" (maximum over patches, per channel), "avg" (mean over patches) or "cls".

    Returns:
        (B, D)
    """
    if mode == "max":
        return patch_emb.amax(dim=1)
    if mode == "avg":
        return patch_emb.mean(dim=1)
    if mode == "cls":
        if cls_emb is None:
            raise ValueError("MODEL.CLIPPY.AGGREGATION 'cls' needs an image tower with a class token")
        return cls_emb
    raise ValueError(f"MODEL.CLIPPY.AGGREGATION must be one of {AGGREGATIONS}, got {mode!r}")
