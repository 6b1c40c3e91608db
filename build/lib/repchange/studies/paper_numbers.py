"""The two papers' published numbers, for display beside this book's runs — never as test expectations.

Study A: the authors' published results export (CIFAR-10 pre-training, conv4, mean over 5 seeds,
final epoch, biased linear CKA). Study B: the paper's Tables 1-2 and its metric agreement
(ImageNet VGG19 / ResNet50 / DenseNet121 fine-tuned on 15-Scene, AwA2, Fruits-360).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["STUDY_A_CKA", "STUDY_A_BLOCK4_BY_DEGREE", "STUDY_B_ACCURACY", "STUDY_B_REUSABILITY",
           "STUDY_B_AGREEMENT", "ARCH_OF_PAPER", "study_a_table", "study_b_accuracy", "study_b_reusability"]

LAYERS = ("block1", "block2", "block3", "block4", "logits")
# condition -> CKA per layer (block1..logits)
STUDY_A_CKA = {
    "pre-training, d=0: CKA to the init": (0.895, 0.791, 0.618, 0.341, 0.118),
    "fine-tuning, same domain, clean: CKA to the pre-trained net": (0.991, 0.971, 0.917, 0.610, 0.701),
    "fine-tuning, cross domain, clean: CKA to the pre-trained net": (0.989, 0.941, 0.825, 0.422, 0.055),
}
STUDY_A_TEST_ACCURACY = 0.757  # pre-training on CIFAR-10, d = 0
STUDY_A_BLOCK4_BY_DEGREE = {0: 0.610, 1: 0.535, 2: 0.496, 4: 0.444, 9: 0.386}  # fine-tuning, CKA to pre-trained
STUDY_B_ACCURACY = {  # (train %, test %)
    ("vgg19", "scene15"): (98.43, 93.31), ("vgg19", "awa2"): (96.78, 89.23), ("vgg19", "fruits360"): (99.83, 98.42),
    ("densenet121", "scene15"): (99.10, 94.87), ("densenet121", "awa2"): (99.57, 91.59),
    ("densenet121", "fruits360"): (99.45, 99.82),
    ("resnet50", "scene15"): (98.74, 93.08), ("resnet50", "awa2"): (99.43, 90.97), ("resnet50", "fruits360"): (96.48, 99.02),
}
STUDY_B_REUSABILITY = {  # (mean, std) over epochs of the layer-averaged distance
    ("vgg19", "awa2"): (0.345, 0.039), ("vgg19", "scene15"): (0.330, 0.026), ("vgg19", "fruits360"): (0.921, 0.021),
    ("densenet121", "awa2"): (0.436, 0.033), ("densenet121", "scene15"): (0.576, 0.025),
    ("densenet121", "fruits360"): (0.796, 0.023),
    ("resnet50", "awa2"): (0.410, 0.034), ("resnet50", "scene15"): (0.550, 0.026), ("resnet50", "fruits360"): (0.749, 0.027),
}
STUDY_B_AGREEMENT = (0.83, 0.43)  # mean and standard deviation of Pearson r
ARCH_OF_PAPER = {"vgg_small": "vgg19", "resnet_small": "resnet50", "densenet_small": "densenet121"}
KIND_OF_PAPER_TARGET = {"scene15": "similar", "awa2": "similar", "fruits360": "dissimilar"}


def study_a_table() -> pd.DataFrame:
    """The published Study A rows: condition, layer, value."""
    return pd.DataFrame([dict(condition=c, layer=layer, value=v) for c, values in STUDY_A_CKA.items()
                         for layer, v in zip(LAYERS, values)])


def study_b_accuracy() -> pd.DataFrame:
    """Table 1 of the paper: arch, target, train_acc, test_acc (fractions)."""
    return pd.DataFrame([dict(arch=a, target=t, train_acc=tr / 100, test_acc=te / 100)
                         for (a, t), (tr, te) in STUDY_B_ACCURACY.items()])


def study_b_reusability() -> pd.DataFrame:
    """Table 2 of the paper: arch, target, kind (similar / dissimilar to ImageNet), mean, std."""
    return pd.DataFrame([dict(arch=a, target=t, kind=KIND_OF_PAPER_TARGET[t], mean=m, std=s)
                         for (a, t), (m, s) in STUDY_B_REUSABILITY.items()])
