"""Image augmentation of training batches on the training device, with kornia, and test-time flips.

A config's `train.augment` (`workers.spec.AugmentSpec`) becomes one `BatchAugment` per phase:
crop with padding, horizontal flip, colour jitter and cutout transform the standardised batch
where it already lies (never a copy to the host, never a Python loop over images), and
mixup/cutmix blend images and hand back the pairs of labels with their weights, which the
loss mixes alike. Random draws come from torch's generator, which the trainer seeds from the
entry's seed, so an entry trains the same twice. Only training batches pass here: validation
and test rows never do; `tta: flip` averages test predictions over each image and its mirror.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from workers.spec import AugmentSpec


class _Jitter(nn.Module):
    """Colour jitter in [0, 1] pixel units, between the standardised units the batch is in:
    brightness and contrast are defined on pixel values, not z-scores."""

    def __init__(self, jitter: nn.Module, scale: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.jitter = jitter
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unit = (x * self.scale + self.shift).clamp_(0.0, 1.0)
        return (self.jitter(unit) - self.shift) / self.scale


class BatchAugment:
    """The augmentation of one phase: `apply(x, y)` -> (augmented x, mixed labels or None)."""

    def __init__(
        self,
        spec: AugmentSpec,
        *,
        image_shape: tuple[int, int, int],
        mean,
        std,
        value_range: tuple[float, float],
        device: torch.device,
    ):
        import kornia.augmentation as K

        _, height, width = image_shape
        ops: list[nn.Module] = []
        if spec.crop is not None:
            # Zero padding is the channel mean once standardised.
            ops.append(K.RandomCrop((height, width), padding=spec.crop.padding, fill=0.0))
        if spec.flip is not None:
            ops.append(K.RandomHorizontalFlip(p=spec.flip.p))
        if spec.color_jitter is not None:
            j = spec.color_jitter
            lo, hi = value_range
            span = max(hi - lo, 1e-12)
            as_channels = (1, -1, 1, 1)
            mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(as_channels)
            std_t = torch.as_tensor(std, dtype=torch.float32).reshape(as_channels)
            jitter = K.ColorJitter(
                brightness=j.brightness, contrast=j.contrast, saturation=j.saturation, hue=j.hue, p=j.p
            )
            ops.append(_Jitter(jitter, std_t / span, (mean_t - lo) / span))
        if spec.cutout is not None:
            c = spec.cutout
            ops.append(K.RandomErasing(scale=(c.min_area, c.max_area), ratio=(0.3, 3.3), value=0.0, p=c.p))
        self.transforms = nn.Sequential(*ops).to(device)
        self.mix: nn.Module | None = None
        if spec.mix is not None:
            m = spec.mix
            if m.name == "mixup":
                self.mix = K.RandomMixUpV2(
                    lambda_val=(0.0, m.max_lambda), p=m.p, data_keys=["input", "class"]
                )
            else:
                self.mix = K.RandomCutMixV2(p=m.p, use_correct_lambda=True, data_keys=["input", "class"])
            self.mix = self.mix.to(device)

    @torch.no_grad()
    def apply(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if len(self.transforms):
            x = self.transforms(x)
        if self.mix is None:
            return x, None
        x, labels = self.mix(x, y)
        # cutmix answers (mixes, batch, 3); one mix is the only kind configs ask for.
        return x, labels.reshape(-1, y.shape[0], 3)[-1]

    @staticmethod
    def mixed_loss(out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against both labels of each mixed image, weighted by its share:
        `labels` rows are (label a, label b, weight of b), as kornia gives them."""
        first, second, lam = labels[:, 0].long(), labels[:, 1].long(), labels[:, 2]
        a = F.cross_entropy(out, first, reduction="none")
        b = F.cross_entropy(out, second, reduction="none")
        return ((1.0 - lam) * a + lam * b).mean()


def augment_for(spec: AugmentSpec | None, tensors, device: torch.device) -> BatchAugment | None:
    """The phase's BatchAugment, or None when the config trains on the batches as they are."""
    if spec is None or not spec.trains or tensors.standardizer is None:
        return None
    return BatchAugment(
        spec,
        image_shape=tuple(tensors.X_train.shape[1:]),
        mean=tensors.standardizer.mean,
        std=tensors.standardizer.std,
        value_range=tensors.value_range,
        device=device,
    )


def predict_with_flips(
    forward_all: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, classification: bool
):
    """Test-time augmentation: the mean of the predictions for each image and its mirror
    (class probabilities for classification, as log-probabilities; outputs for regression)."""
    a, b = forward_all(X), forward_all(torch.flip(X, dims=(-1,)))
    if not classification:
        return (a + b) / 2
    return torch.log((torch.softmax(a, dim=1) + torch.softmax(b, dim=1)) / 2)
