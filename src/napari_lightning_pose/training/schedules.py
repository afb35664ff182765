"""Learning-rate milestones, backbone freezing and its learning-rate ramp.

The learning rate is ``learning_rate * gamma**m`` where ``m`` counts the milestones
(``training.lr_scheduler_params.multisteplr.milestones``; values < 1 are fractions of
``max_steps``) at or before the current step.

Backbone freezing, as Lightning Pose does it (``training.unfreezing_epoch``): for the first
``unfreezing_epoch`` epochs only the head trains. The backbone's weights (BatchNorm's affine
ones included, unlike Lightning's ``train_bn``) get no gradient, so its backward pass is
skipped and a step costs about 40 % of a full one on a CPU. At the unfreezing epoch the
backbone joins with 0.1 times the head's learning rate, multiplied by 1.5 every epoch until
it catches up (Lightning's ``BackboneFinetuning`` with Lightning Pose's settings), so a fresh
head's large early gradients never reach the pretrained features at full strength.
``unfreezing_epoch: 0`` trains everything at the same rate from the first step.
"""

from __future__ import annotations

from torch import nn

from napari_lightning_pose.errors import ConfigError


def resolve_milestones(milestones: list[float], max_steps: int) -> list[int]:
    """Milestone steps: values < 1 are fractions of ``max_steps``, others absolute steps."""
    out = []
    for m in milestones:
        if not isinstance(m, int | float) or m < 0:
            raise ConfigError(
                None,
                f"training.lr_scheduler_params.multisteplr.milestones holds {m!r}.",
                "Use fractions of max_steps (< 1) or step numbers (>= 1).",
            )
        out.append(round(m * max_steps) if m < 1 else int(m))
    return sorted(out)


def learning_rate_at(step: int, base_lr: float, milestones: list[int], gamma: float) -> float:
    """The step schedule's learning rate for step ``step`` (0-based): base * gamma**passed."""
    return base_lr * gamma ** sum(step >= m for m in milestones)


def backbone_lr_ratio(step: int, unfreeze_step: int, steps_per_epoch: int) -> float:
    """Backbone learning rate / head learning rate at ``step`` (0-based).

    0 while the backbone is frozen (``step < unfreeze_step``), then 0.1 times 1.5 per epoch
    since unfreezing, capped at 1 (Lightning Pose's backbone fine-tuning schedule); always 1
    when ``unfreeze_step`` is 0, i.e. the backbone was never frozen.
    """
    if unfreeze_step <= 0:
        return 1.0
    if step < unfreeze_step:
        return 0.0
    epochs = (step - unfreeze_step) // max(1, steps_per_epoch)
    return min(1.0, 0.1 * 1.5**epochs)


def anneal_factor(
    epoch: int, init_val: float, increase_factor: float, final_val: float, freeze_until_epoch: int
) -> float:
    """Weight of the unsupervised losses at ``epoch`` (``callbacks.anneal_weight``).

    ``init_val`` up to and including ``freeze_until_epoch``, then growing by
    ``increase_factor`` per epoch (linearly: ``init_val + increase_factor * epochs``, as
    Lightning Pose's ``AnnealWeight`` callback does), capped at ``final_val``.
    """
    if epoch <= freeze_until_epoch:
        return float(init_val)
    value = init_val + increase_factor * (epoch - freeze_until_epoch)
    return float(min(final_val, value))


def backbone_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of ``model.backbone`` (none for a model without one)."""
    backbone = getattr(model, "backbone", None)
    return list(backbone.parameters()) if isinstance(backbone, nn.Module) else []


def freeze_batchnorm(model: nn.Module) -> None:
    """Put every BatchNorm layer in eval mode (running statistics kept, affine trained)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
