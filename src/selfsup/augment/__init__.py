"""View makers per modality. Batched, on the input's device, seeded."""

from selfsup.augment.image import ImageAugConfig, ImageAugment, MultiView
from selfsup.augment.multicrop import Crops, MultiCrop

__all__ = ["Crops", "ImageAugConfig", "ImageAugment", "MultiCrop", "MultiView"]
