"""Model files: what ``save`` writes and what ``load`` accepts, refuses and never does."""

import json
import sys

import numpy as np
import pytest
import torch
from safetensors.numpy import save as save_safetensors

import skcrossvae
from skcrossvae import CrossFeedbackVAERegressor, _persistence
from skcrossvae.baselines import BiasedMFRegressor, VariationalBayesMFRegressor
from skcrossvae.datasets import make_ratings

from _estimators import all_estimators, fast_instance


@pytest.fixture(scope="module")
def toy():
    X, y, _ = make_ratings(12, 10, n_ratings=70, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def saved(toy, tmp_path_factory):
    model = fast_instance(CrossFeedbackVAERegressor).fit(*toy)
    path = tmp_path_factory.mktemp("saved") / "model.skcv"
    model.save(path)
    return model, path


def _write_document(path, document, arrays=None):
    """A hand-made model file with a correct digest (what a crafted file can look like)."""
    arrays = arrays or {}
    text = json.dumps(document, sort_keys=True)
    path.write_bytes(save_safetensors(arrays, metadata={
        "skcrossvae": text, "sha256": _persistence._digest(text, arrays)}))
    return path


@pytest.mark.parametrize("cls", all_estimators(), ids=lambda cls: cls.__name__)
def test_every_estimator_round_trips_with_its_class_and_version_recorded(cls, toy, tmp_path):
    model = fast_instance(cls).fit(*toy)
    path = tmp_path / "model.skcv"
    model.save(path)
    restored = skcrossvae.load(path, expected=cls)
    assert type(restored) is cls and restored.get_params() == model.get_params()
    np.testing.assert_array_equal(restored.predict(toy[0]), model.predict(toy[0]))
    document, _, _, _ = _persistence._read_document(path.read_bytes())
    assert document["class"] == cls.__name__
    assert document["skcrossvae_version"] == skcrossvae.__version__
    assert document["format_version"] == _persistence.FORMAT_VERSION


def test_a_model_fitted_on_a_dataframe_keeps_its_column_names(toy, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(toy[0], columns=["user", "item"])
    model = fast_instance(BiasedMFRegressor).fit(frame, toy[1])
    model.save(tmp_path / "frame.skcv")
    restored = skcrossvae.load(tmp_path / "frame.skcv")
    np.testing.assert_array_equal(restored.feature_names_in_, model.feature_names_in_)
    assert restored.feature_names_in_.dtype == object
    np.testing.assert_array_equal(restored.predict(frame), model.predict(frame))


def test_string_ids_round_trip(toy, tmp_path):
    X = np.array([[f"u{u}", f"i{i}"] for u, i in toy[0]])
    model = fast_instance(VariationalBayesMFRegressor).fit(X, toy[1])
    model.save(tmp_path / "strings.skcv")
    restored = skcrossvae.load(tmp_path / "strings.skcv")
    np.testing.assert_array_equal(restored.user_ids_, model.user_ids_)
    np.testing.assert_array_equal(restored.recommend(["u1"], n=3)[0], model.recommend(["u1"], n=3)[0])


def test_load_refuses_another_class_than_expected(saved):
    _, path = saved
    with pytest.raises(ValueError, match=rf"{path}.*holds a CrossFeedbackVAERegressor, not a BiasedMFRegressor"):
        skcrossvae.load(path, expected=BiasedMFRegressor)
    assert isinstance(skcrossvae.load(path, expected=(BiasedMFRegressor, CrossFeedbackVAERegressor)),
                      CrossFeedbackVAERegressor)


@pytest.mark.parametrize("payload", [
    {"format_version": 1, "class": "skcrossvae.experiments._common:write_json",
     "params": {"path": "WRITTEN", "payload": {"pwned": True}}, "fitted": {}},
    {"format_version": 1, "class": "skcrossvae.experiments.cli:main",
     "params": {"argv": ["results", "--output", "WRITTEN"]}, "fitted": {}},
    {"format_version": 1, "class": "skcrossvae.__main__:x", "params": {}, "fitted": {}},
], ids=["write_json", "cli", "dunder_main"])
def test_crafted_legacy_files_neither_write_run_nor_exit(payload, tmp_path, monkeypatch):
    # The legacy format (a torch.save archive) is refused before anything in it is read.
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "WRITTEN"
    payload = json.loads(json.dumps(payload).replace("WRITTEN", str(target)))
    path = tmp_path / "crafted.pt"
    torch.save(payload, path)
    modules_before = set(sys.modules)
    with pytest.raises(ValueError, match=rf"{path}.*torch.save archive.*Fit the model again"):
        skcrossvae.load(path)
    assert not target.exists()
    assert "skcrossvae.__main__" not in set(sys.modules) - modules_before


@pytest.mark.parametrize("class_name", ["skcrossvae.experiments._common:write_json", "write_json",
                                        "skcrossvae.__main__:x", "BaseRatingEstimator"])
def test_crafted_files_naming_other_code_are_refused(class_name, tmp_path):
    target = tmp_path / "WRITTEN"
    path = _write_document(tmp_path / "crafted.skcv", {
        "format": _persistence.FORMAT_NAME, "format_version": _persistence.FORMAT_VERSION,
        "class": class_name, "params": {"path": str(target), "payload": {}}, "fitted": {"a_": 1}})
    with pytest.raises(ValueError, match=rf"{path}.*not an estimator of skcrossvae"):
        skcrossvae.load(path)
    assert not target.exists()


def _document_of(path):
    document, _, _, arrays = _persistence._read_document(path.read_bytes())
    return document, arrays


@pytest.mark.parametrize("change, message", [
    (lambda d: d["params"].update(n_components=-3), "n_components"),
    (lambda d: d["params"].update(n_components=True), "must be a number, not a boolean"),
    (lambda d: d["params"].update(max_iter="auto"), "max_iter.*written by skcrossvae"),
    (lambda d: d["params"].update(device={"$module": {}}), "device"),
    (lambda d: d["params"].update(evil=1), r"unknown: \['evil'\]"),
    (lambda d: d["params"].pop("max_iter"), r"missing: \['max_iter'\]"),
    (lambda d: d["fitted"].update(__class__=1), "not fitted attributes"),
    (lambda d: d["fitted"].update(predict=1), "not fitted attributes"),
    (lambda d: d["fitted"].update(n_users_=3), "user_ids_ has"),
    (lambda d: d.update(fitted={}), "no fitted state"),
    (lambda d: d["fitted"].update(global_mean_="x"), "global_mean_ 'x' .* must be finite numbers"),
    (lambda d: d["fitted"].update(global_mean_=float("nan")), "must be finite numbers"),
    (lambda d: d["fitted"].update(rating_range_=[9, 1]), r"rating_range_ \[9, 1\] is not an ordered pair"),
    (lambda d: d["fitted"].update(user_fallback_={"$strings": ["a"] * 12}), "user_fallback_ must be"),
], ids=["bad_value", "bool_size", "value_of_another_version", "tagged_value", "unknown_param", "missing_param", "dunder",
        "method_name", "inconsistent_sizes", "unfitted", "text_mean", "nan_mean", "reversed_range",
        "text_fallbacks"])
def test_stored_values_are_validated_before_anything_is_built(saved, tmp_path, change, message):
    document, arrays = _document_of(saved[1])
    change(document)
    path = _write_document(tmp_path / "changed.skcv", document, arrays)
    with pytest.raises(ValueError, match=message):
        skcrossvae.load(path)


def test_network_weights_of_the_wrong_shape_are_refused(saved, tmp_path):
    document, arrays = _document_of(saved[1])
    name = next(key for key in arrays if key.startswith("fitted.module_.") and key.endswith(".weight"))
    arrays[name] = np.zeros(arrays[name].shape[:-1] + (arrays[name].shape[-1] + 1,), arrays[name].dtype)
    path = _write_document(tmp_path / "shapes.skcv", document, arrays)
    with pytest.raises(ValueError, match=rf"{path}.*weights do not fit the network: .*has shape"):
        skcrossvae.load(path)


@pytest.mark.parametrize("name, value", [("n_components", 10**9), ("encoder_layer_sizes", [10**9])])
def test_parameters_of_huge_networks_are_refused_before_their_weights_are_allocated(
        saved, tmp_path, monkeypatch, name, value):
    # A crafted file of a few kilobytes must not make load allocate gigabytes (or be killed).
    document, arrays = _document_of(saved[1])
    document["params"][name] = value
    path = _write_document(tmp_path / "huge.skcv", document, arrays)
    real_empty = torch.empty

    def bounded_empty(*args, **kwargs):
        tensor = real_empty(*args, **kwargs)
        assert tensor.is_meta or tensor.numel() < 10**7, "load allocated a huge tensor"
        return tensor

    monkeypatch.setattr(torch, "empty", bounded_empty)
    with pytest.raises(ValueError, match=rf"{path}.*weights do not fit the network"):
        skcrossvae.load(path)


def test_every_damaged_byte_is_detected(saved, tmp_path):
    model, path = saved
    data = path.read_bytes()
    positions = np.linspace(8, len(data) - 1, 60).astype(int)
    for position in positions:
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        copy = tmp_path / f"damaged_{position}.skcv"
        copy.write_bytes(bytes(damaged))
        with pytest.raises(ValueError, match=rf"cannot load model file {copy}"):
            skcrossvae.load(copy)


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"user item rating\n1 2 3\n", "not a skcrossvae model file"),
    (bytes(np.random.RandomState(0).randint(0, 256, 4096, dtype=np.uint8)), "not"),
    (save_safetensors({"x": np.zeros(3)}), "not a readable skcrossvae model file"),
], ids=["empty", "text", "random", "foreign_safetensors"])
def test_foreign_files_get_one_clear_error(content, message, tmp_path):
    path = tmp_path / "foreign.skcv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"cannot load model file {path}: .*{message}"):
        skcrossvae.load(path)


def test_files_of_another_format_version_say_what_to_do(saved, tmp_path):
    document, arrays = _document_of(saved[1])
    newer = _write_document(tmp_path / "newer.skcv", {**document, "format_version": 99,
                                                      "skcrossvae_version": "9.0"}, arrays)
    with pytest.raises(ValueError, match=r"written by skcrossvae 9.0 in model format 99.*Upgrade"):
        skcrossvae.load(newer)
    older = _write_document(tmp_path / "older.skcv", {**document, "format_version": 1}, arrays)
    with pytest.raises(ValueError, match=r"format 1.*fit the model again with this version and save"):
        skcrossvae.load(older)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read model file"):
        skcrossvae.load(tmp_path / "absent.skcv")


def test_a_failed_save_leaves_no_file(saved, tmp_path, monkeypatch):
    model, _ = saved
    path = tmp_path / "model.skcv"

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.numpy.save", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert list(tmp_path.iterdir()) == []


def test_subclasses_outside_the_registry_cannot_be_saved(toy, tmp_path):
    class Mine(BiasedMFRegressor):
        pass

    model = Mine(max_iter=2, random_state=0).fit(*toy)
    with pytest.raises(TypeError, match="only the package's estimators can be saved"):
        model.save(tmp_path / "mine.skcv")


def test_model_files_are_read_without_an_unpickler_and_torch_has_a_recent_floor():
    import configparser
    import re
    from pathlib import Path

    source = Path(_persistence.__file__).read_text()
    assert not re.search(r"^\s*(import|from)\s+(pickle|joblib|torch|dill)\b", source, re.MULTILINE)
    assert not re.search(r"\b(pickle|joblib|torch)\.loads?\(", source)
    setup = Path(__file__).resolve().parents[1] / "setup.cfg"
    if not setup.exists():
        pytest.skip("not run from a source checkout")
    config = configparser.ConfigParser()
    config.read(setup)
    floor = re.search(r"^torch>=(\d+)\.(\d+)", config["options"]["install_requires"], re.MULTILINE)
    assert floor and tuple(map(int, floor.groups())) >= (2, 10), "torch's floor must exclude releases with unsafe readers"
