"""Fades eq. 5's group-token term out during training (MODEL.GROUPVIT.GROUP_TOKEN_RESIDUAL_FADE)."""
from detectron2.engine import HookBase

from ..modeling.groupvit.layers.grouping import GroupingBlock, fade_weight

__all__ = ["GroupTokenFadeHook"]


class GroupTokenFadeHook(HookBase):
    """Sets every Grouping Block's `token_residual_weight` from the iteration before each step,
    and to the fade's final weight (0) when training ends, the weight the model is evaluated with."""

    def __init__(self, fade):
        self.fade = tuple(fade)

    def _set(self, weight):
        for module in self.trainer.model.modules():
            if isinstance(module, GroupingBlock):
                module.token_residual_weight = weight

    def before_step(self):
        weight = fade_weight(self.trainer.iter, self.fade)
        self._set(weight)
        self.trainer.storage.put_scalar("grouping/token_residual_weight", weight, smoothing_hint=False)

    def after_train(self):
        self._set(0.0)
