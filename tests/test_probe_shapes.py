"""The probed maps' shapes known before any work, and the door check PWSM's whitening needs from them."""

from __future__ import annotations

import pytest

from repchange.nets.probe_shapes import probe_shapes
from repchange.studies.b.tables import dynamics_params

PAPER_RUN = dict(targets=["scene15"], seeds=[1], source_epochs=1, source_size=10, finetune_epochs=1,
                 finetune_checkpoints=[0, 1], finetune_size=30, finetune_eval_size=None, finetune_lr=1e-4,
                 finetune_batch_size=8)


def test_the_published_nets_probed_shapes_at_224_pixels() -> None:
    """torchvision's layer geometry: VGG19 halves 224 four times, ResNet50 ends at 2,048 × 7 × 7."""
    vgg = probe_shapes("vgg19", 224)
    assert vgg["conv1_2"] == (64, 224, 224) and vgg["conv5_4"] == (512, 14, 14)
    resnet = probe_shapes("resnet50", 224)
    assert resnet["conv1"] == (64, 112, 112) and resnet["conv5_x"] == (2048, 7, 7)
    assert probe_shapes("densenet121", 224)["transition3"] == (1024, 14, 14)
    assert probe_shapes("vgg19", 160)["conv5_4"] == (512, 10, 10)  # the input size is honoured


@pytest.mark.parametrize("n_probe, arch, fails", [(41, "resnet50", True), (42, "resnet50", False),
                                                  (5, "densenet121", True), (6, "densenet121", False)])
def test_too_few_probe_positions_for_whitening_are_refused_at_the_door(n_probe: int, arch: str, fails: bool) -> None:
    """ResNet50's conv5_x needs ceil(2048 / 49) = 42 probe images, DenseNet121's transition3 ceil(1024 / 196) = 6."""
    make = lambda alphas: dynamics_params(archs=[arch], n_probe=n_probe, alphas=alphas, **PAPER_RUN)  # noqa: E731
    if fails:
        with pytest.raises(ValueError, match=r"b_probe_size \(\d+\).*raise b_probe_size to at least (42|6)"):
            make([0.0, 0.5, 1.0])
    else:
        make([0.0, 0.5, 1.0])
    make([1.0])  # Procrustes alone (alpha 1) whitens nothing: any probe size passes
