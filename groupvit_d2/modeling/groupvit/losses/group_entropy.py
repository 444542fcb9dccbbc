"""Group entropy GE (thesis sec. 4.5.1, eq. 38-39): how unsure each patch is about its final group."""

from .entropy import entropy

__all__ = ["group_entropy_loss"]


def group_entropy_loss(patch_to_group):
    """Mean over images of the mean over patches of the entropy of each patch's soft assignment to
    the final groups (minimised: each patch should belong to one group).

    Args:
        patch_to_group (Tensor): (B, N, G) Attn^T = (A_last ... A_1)^T, the soft patch-to-final-group
            map (`GroupViTVisionOutput.patch_to_group()`); each row sums to one.

    Returns:
        Tensor: scalar, between 0 and log(G).
    """
    if patch_to_group.dim() != 3:
        raise ValueError(
            f"group_entropy_loss: patch_to_group must be (B, N, G), got {tuple(patch_to_group.shape)}"
        )
    return entropy(patch_to_group.float(), dim=-1).mean()
