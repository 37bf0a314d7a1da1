"""View makers per modality. Batched, on the input's device, seeded."""

from selfsup.augment.image import ImageAugConfig, ImageAugment, MultiView

__all__ = ["ImageAugConfig", "ImageAugment", "MultiView"]
