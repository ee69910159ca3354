"""The reference few-shot detector (see detector.py for the data flow)."""

from inspector.model.config import ModelConfig
from inspector.model.detector import DetectorOutput, FewShotDetector, create_model

__all__ = ["DetectorOutput", "FewShotDetector", "ModelConfig", "create_model"]
