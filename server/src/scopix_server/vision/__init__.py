"""The local analyser's models, all offline and shipped inside registry packages: ImageNet
classes (EfficientNet-Lite0), faces (dlib), how explicit a picture is (Open-NSFW), and a visual
vector per picture. Each weight file is checked against its SHA-256 before it is loaded."""

from .faces import Face
from .sight import Sight, concepts_of, see
from .weights import WEIGHTS, ModelUnavailable, weights_path

__all__ = ["WEIGHTS", "Face", "ModelUnavailable", "Sight", "concepts_of", "see", "weights_path"]
