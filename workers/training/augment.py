"""Image augmentation of training batches on the training device, and test-time flips.

A config's `train.augment` (`workers.spec.AugmentSpec`) becomes one `BatchAugment` per phase:
crop with padding, horizontal flip, colour jitter and cutout transform the standardised batch
where it already lies (never a copy to the host, never a Python loop over images) as a few
whole-batch tensor ops each (kornia's versions of these cost 2-3x the time on a CPU: affine
warps for the crop, an HSV round trip through channel reductions for the hue), and
mixup/cutmix (kornia) blend images and hand back the pairs of labels with their weights, which the
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

# ITU-R 601 luma, as torchvision and kornia weigh RGB into grey.
_GREY = (0.299, 0.587, 0.114)
# hsv_to_rgb's offsets of R, G and B on the circle of sixths.
_HSV_N = torch.tensor([5.0, 3.0, 1.0]).reshape(1, 3, 1, 1)


def _uniform(n: int, lo: float, hi: float, device: torch.device) -> torch.Tensor:
    return torch.empty(n, device=device).uniform_(lo, hi)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) luma of RGB images, or the single channel itself."""
    if x.shape[1] != 3:
        return x
    r, g, b = x.unbind(1)
    return (_GREY[0] * r + _GREY[1] * g + _GREY[2] * b).unsqueeze(1)


def _shift_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate each image's hue by `turns` of the colour circle (N,), keeping HSV's S and V:
    RGB -> hue in sixths -> RGB in closed form (hsv_to_rgb's f(n) = V - V*S*clamp(min(k, 4 - k), 0, 1)),
    without the separate H, S, V planes of a full round trip."""
    # Channel maxima by elementwise maximum, not max(dim=1): on a CPU, a reduction over three
    # channels costs several times the elementwise ops.
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    top = torch.maximum(torch.maximum(r, g), b)
    chroma = top - torch.minimum(torch.minimum(r, g), b)
    red, green = r == top, g == top
    # Hue in sixths of the circle, as rgb_to_hsv: the sector of the largest channel plus the
    # position inside it (ties resolve to red, then green, as argmax would).
    offset = torch.where(red, 0.0, torch.where(green, 2.0, 4.0))
    offset += (6.0 * turns).reshape(-1, 1, 1, 1)
    within = torch.where(red, g - b, torch.where(green, b - r, r - g)) / chroma.clamp_min(1e-8)
    sixths = offset + within
    k = torch.remainder(_HSV_N.to(x.device) + sixths, 6.0)
    return top - chroma * torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)


class _ColorJitter:
    """torchvision's ColorJitter (kornia's `ColorJitter` formulas) on a batch, in [0, 1] pixel
    units between the standardised units the batch is in (brightness and contrast are defined
    on pixel values, not z-scores): brightness multiplies, contrast blends with the image's
    grey mean, saturation with its grey, hue shifts HSV's hue; each factor drawn per image,
    neutral for the images the gate `p` skips, the four steps in one random order per batch,
    clamped to [0, 1] after each step. Every step is a few whole-batch elementwise ops: the
    HSV round trip of kornia's hue step was most of the augmentation's time on a CPU."""

    def __init__(self, spec, scale: torch.Tensor, shift: torch.Tensor):
        self.spec = spec
        self.scale, self.shift = scale, shift
        # A step whose range is zero is the identity: left out, as kornia skips it.
        self.steps = [
            i
            for i, amount in enumerate((spec.brightness, spec.contrast, spec.saturation, spec.hue))
            if amount > 0
        ]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        j, n, dev = self.spec, x.shape[0], x.device
        unit = (x * self.scale + self.shift).clamp_(0.0, 1.0)
        gate = torch.rand(n, device=dev) < j.p
        factors = {
            0: _uniform(n, max(0.0, 1 - j.brightness), 1 + j.brightness, dev),
            1: _uniform(n, max(0.0, 1 - j.contrast), 1 + j.contrast, dev),
            2: _uniform(n, max(0.0, 1 - j.saturation), 1 + j.saturation, dev),
            3: _uniform(n, -j.hue, j.hue, dev),
        }
        order = torch.randperm(len(self.steps)).tolist()  # host-side: no device sync
        for step in (self.steps[i] for i in order):
            f = torch.where(gate, factors[step], 0.0 if step == 3 else 1.0)
            if step == 0:
                unit = unit * f.reshape(-1, 1, 1, 1)
            elif step == 1:
                mean = _grey(unit).mean(dim=(1, 2, 3), keepdim=True)
                unit = torch.lerp(mean, unit, f.reshape(-1, 1, 1, 1))
            elif step == 2:
                unit = torch.lerp(_grey(unit), unit, f.reshape(-1, 1, 1, 1))
            else:
                unit = _shift_hue(unit, f)
            unit = unit.clamp_(0.0, 1.0)
        return (unit - self.shift) / self.scale


class BatchAugment:
    """The augmentation of one phase: `apply(x, y)` -> (augmented x, mixed labels or None).

    Crop and flip are exact integer shifts: each image is mirrored (or not) inside its
    zero-padded frame, then takes the window at an offset drawn in [0, 2 * padding] from the
    view of all windows (no resampling, no affine warp). Cutout zeroes a rectangle drawn per
    image. All draws are per image, from torch's generator on the batch's device.
    """

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

        _, self.height, self.width = image_shape
        self.padding = spec.crop.padding if spec.crop is not None else 0
        self.flip_p = spec.flip.p if spec.flip is not None else None
        self.cutout = spec.cutout
        self.jitter: _ColorJitter | None = None
        if spec.color_jitter is not None:
            lo, hi = value_range
            span = max(hi - lo, 1e-12)
            as_channels = (1, -1, 1, 1)
            mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(as_channels).to(device)
            std_t = torch.as_tensor(std, dtype=torch.float32).reshape(as_channels).to(device)
            self.jitter = _ColorJitter(spec.color_jitter, std_t / span, (mean_t - lo) / span)
        self.rows = torch.arange(self.height, device=device)
        self.cols = torch.arange(self.width, device=device)
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

    def _crop_flip(self, x: torch.Tensor) -> torch.Tensor:
        n, dev = x.shape[0], x.device
        pad = self.padding
        # Zero padding is the channel mean once standardised.
        src = F.pad(x, (pad, pad, pad, pad)) if pad else x
        if self.flip_p is not None:
            flipped = torch.rand(n, device=dev) < self.flip_p
            # Mirroring the padded image then cropping is cropping then mirroring, at the
            # mirrored offset: the same distribution of windows.
            src = torch.where(flipped.reshape(n, 1, 1, 1), src.flip(-1), src)
        if not pad:
            return src
        # Every window of the padded image as a view (N, C, 2p+1, 2p+1, H, W), no copy; each
        # image takes the one at its integer offset.
        windows = src.unfold(2, self.height, 1).unfold(3, self.width, 1)
        top = torch.randint(0, 2 * pad + 1, (n,), device=dev)
        left = torch.randint(0, 2 * pad + 1, (n,), device=dev)
        return windows[torch.arange(n, device=dev), :, top, left]

    def _erase(self, x: torch.Tensor) -> torch.Tensor:
        """kornia's RandomErasing: an area of min_area..max_area of the image, aspect ratio
        (height / width) in 0.3..1 or 1..3.3 with equal chance, anywhere inside the image."""
        c, (n, _, h, w), dev = self.cutout, x.shape, x.device
        area = _uniform(n, c.min_area, c.max_area, dev) * (h * w)
        tall = torch.rand(n, device=dev) < 0.5
        ratio = torch.where(tall, _uniform(n, 1.0, 3.3, dev), _uniform(n, 0.3, 1.0, dev))
        eh = torch.round(torch.sqrt(area * ratio)).clamp_(1, h)
        ew = torch.round(torch.sqrt(area / ratio)).clamp_(1, w)
        top = torch.floor(torch.rand(n, device=dev) * (h - eh + 1))
        left = torch.floor(torch.rand(n, device=dev) * (w - ew + 1))
        on = torch.rand(n, device=dev) < c.p
        rows = (self.rows >= top[:, None]) & (self.rows < (top + eh)[:, None]) & on[:, None]
        cols = (self.cols >= left[:, None]) & (self.cols < (left + ew)[:, None])
        keep = ~(rows.unsqueeze(2) & cols.unsqueeze(1))
        return x * keep.unsqueeze(1)

    @torch.no_grad()
    def apply(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.padding or self.flip_p is not None:
            x = self._crop_flip(x)
        if self.jitter is not None:
            x = self.jitter(x)
        if self.cutout is not None:
            x = self._erase(x)
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
