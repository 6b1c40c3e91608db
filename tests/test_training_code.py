"""A change to the code that keys every stored training is a decision, not an accident.

The store keys each training by its config and the code of the modules it runs (``TRAINING_CODE``): a change to
any definition there (a message in ``data.datasets`` included) makes every stored run of that study "missing", and the
next book build retrains them all (hours at the paper profile). This test holds the fingerprints of those modules;
when it fails, either undo the change or, where the training really changes, record the new fingerprints
(``python tests/test_training_code.py``) in the same commit and say so in its message.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from repchange.runs.store import code_version
from repchange.studies.a.finetuning import TRAINING_CODE as A_FINETUNING
from repchange.studies.a.pretraining import TRAINING_CODE as A_PRETRAINING
from repchange.studies.b.runs import TRAINING_CODE as B_TRAINING

RECORD = Path(__file__).with_name("training_code.json")


def fingerprints() -> dict[str, str]:
    return {"python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "study_a_pretraining": code_version(A_PRETRAINING), "study_a_finetuning": code_version(A_FINETUNING),
            "study_b": code_version(B_TRAINING)}


def test_the_code_that_keys_stored_trainings_is_as_recorded() -> None:
    recorded, now = json.loads(RECORD.read_text()), fingerprints()
    if recorded["python"] != now["python"]:
        pytest.skip(f"fingerprints were recorded under Python {recorded['python']} (ast.dump differs across versions)")
    changed = {k: (recorded[k], now[k]) for k in now if recorded.get(k) != now[k]}
    assert not changed, (f"the code that keys stored trainings changed {changed}: every stored run of "
                         f"{sorted(changed)} would retrain. Undo the change, or record it: python {__file__}")


if __name__ == "__main__":
    RECORD.write_text(json.dumps(fingerprints(), indent=1) + "\n")
    print(f"recorded {fingerprints()} in {RECORD}")
