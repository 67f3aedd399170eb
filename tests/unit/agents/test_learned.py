import json
import struct
from collections.abc import Sequence

import pytest
import sklearn

from agents.learned import (
    FORMAT_VERSION,
    LearnedModelError,
    ModelFormatError,
    Prediction,
    RouteInput,
    RouterModel,
    TextModel,
    choose_strategy,
    evaluate,
    most_frequent_baseline,
)

# Made-up citizen reports, four kinds; the held-out ones share words, not sentences.
ZH_TRAIN = {
    "垃圾": [
        "小区门口垃圾堆积好几天没人清理",
        "垃圾桶满了溢出来臭气熏天",
        "路边有人乱倒建筑垃圾",
        "菜市场旁边垃圾成堆苍蝇很多",
        "楼下垃圾站三天没有清运",
        "河边垃圾漂浮味道很大",
        "公园草地上到处是垃圾袋",
        "垃圾车清运时垃圾洒落一地",
        "学校门口垃圾没人清扫",
    ],
    "路灯": [
        "路灯不亮晚上很黑不安全",
        "小区外面的路灯坏了一个月",
        "路灯杆倾斜快要倒了",
        "这条街的路灯一到晚上就闪",
        "路灯白天一直亮着浪费电",
        "桥上的路灯全部不亮",
        "路口路灯灯罩掉了",
        "新修的路没有安装路灯",
        "路灯线路裸露很危险",
    ],
    "井盖": [
        "人行道井盖丢失很危险",
        "马路中间井盖破损车辆经过很响",
        "井盖下沉形成一个坑",
        "雨水井盖被人偷走了",
        "井盖松动踩上去会翻",
        "小区门口的井盖塌陷",
        "井盖周围路面开裂",
        "污水井盖冒水",
        "井盖缺失只放了个路障",
    ],
    "噪音": [
        "工地半夜施工噪音扰民",
        "广场舞音响声音太大噪音扰民",
        "楼下饭店排风机噪音很吵",
        "深夜装修电钻噪音影响休息",
        "酒吧音乐噪音到凌晨",
        "施工机械噪音从早到晚",
        "商铺门口喇叭叫卖噪音大",
        "夜间渣土车经过噪音很大",
        "楼上健身房噪音扰民",
    ],
}
ZH_TEST = [
    ("街道两旁垃圾很多没人管", "垃圾"),
    ("垃圾箱已经满了需要清运", "垃圾"),
    ("我家门口的路灯不亮了", "路灯"),
    ("晚上路灯坏了看不清路", "路灯"),
    ("井盖没有了有人掉下去", "井盖"),
    ("自行车道上井盖破了", "井盖"),
    ("晚上施工噪音太吵睡不着", "噪音"),
    ("附近商店噪音扰民", "噪音"),
]


def zh_training_set() -> tuple[list[str], list[str]]:
    texts = [text for texts in ZH_TRAIN.values() for text in texts]
    labels = [label for label, texts in ZH_TRAIN.items() for _ in texts]
    return texts, labels


@pytest.fixture(scope="module")
def zh_model() -> TextModel:
    return TextModel().fit(*zh_training_set())


def test_a_chinese_model_beats_the_majority_class_on_held_out_reports(zh_model: TextModel) -> None:
    texts = [text for text, _ in ZH_TEST]
    labels = [label for _, label in ZH_TEST]
    metrics = evaluate(zh_model, texts, labels)
    baseline = most_frequent_baseline(zh_training_set()[1], labels)
    assert metrics.accuracy >= 0.75 > baseline
    assert metrics.n == len(ZH_TEST)
    assert {item.label for item in metrics.per_label} == set(ZH_TRAIN)


def test_confidence_is_a_probability_and_the_model_lists_its_classes(zh_model: TextModel) -> None:
    predictions = zh_model.predict(["路灯不亮", "井盖丢了"])
    assert [prediction.label for prediction in predictions] == ["路灯", "井盖"]
    assert all(1 / len(ZH_TRAIN) < prediction.confidence <= 1.0 for prediction in predictions)
    assert zh_model.classes == sorted(ZH_TRAIN)
    assert zh_model.strategy == "calibrated_svc"


def test_predicting_nothing_gives_nothing_and_an_unfitted_model_says_so(zh_model: TextModel) -> None:
    assert zh_model.predict([]) == []
    with pytest.raises(LearnedModelError, match="not been fitted"):
        TextModel().predict(["路灯不亮"])


def test_a_round_trip_through_bytes_predicts_the_same(zh_model: TextModel) -> None:
    texts = [text for text, _ in ZH_TEST]
    restored = TextModel.from_bytes(zh_model.to_bytes())
    assert restored.predict(texts) == zh_model.predict(texts)
    assert restored.classes == zh_model.classes
    assert restored.strategy == zh_model.strategy


def _with_header(model_bytes: bytes, **changes: object) -> bytes:
    (length,) = struct.unpack_from(">I", model_bytes, 4)
    header = json.loads(model_bytes[8 : 8 + length]) | changes
    encoded = json.dumps(header).encode()
    return b"CLLM" + struct.pack(">I", len(encoded)) + encoded + model_bytes[8 + length :]


def test_bytes_of_another_format_version_are_refused(zh_model: TextModel) -> None:
    future = _with_header(zh_model.to_bytes(), format=FORMAT_VERSION + 1)
    with pytest.raises(ModelFormatError, match=rf"format {FORMAT_VERSION + 1} is not supported.*retrain"):
        TextModel.from_bytes(future)


def test_bytes_from_another_scikit_learn_release_are_refused(zh_model: TextModel) -> None:
    old = _with_header(zh_model.to_bytes(), sklearn="0.24.2")
    with pytest.raises(ModelFormatError, match=rf"scikit-learn 0.24.2.*{sklearn.__version__}"):
        TextModel.from_bytes(old)


def test_bytes_of_another_kind_or_not_a_model_are_refused(zh_model: TextModel) -> None:
    with pytest.raises(ModelFormatError, match="hold a TextModel, not a RouterModel"):
        RouterModel.from_bytes(zh_model.to_bytes())
    with pytest.raises(ModelFormatError, match="not a CityLoop learned model"):
        TextModel.from_bytes(b"\x80\x05garbage")


def test_one_label_cannot_be_learned() -> None:
    with pytest.raises(LearnedModelError, match="at least two different labels"):
        TextModel().fit(["a pothole", "another pothole"], ["pothole", "pothole"])


def test_items_and_labels_must_pair_up() -> None:
    with pytest.raises(LearnedModelError, match="3 items but 2 labels"):
        TextModel().fit(["a", "b", "c"], ["x", "y"])


def test_labels_with_a_single_example_use_logistic_regression_on_a_small_set() -> None:
    texts = ["pothole on main street", "deep pothole near school", "graffiti on the wall", "broken bench"]
    labels = ["pothole", "pothole", "graffiti", "bench"]
    model = TextModel().fit(texts, labels)
    assert model.strategy == "logistic"
    assert model.classes == ["bench", "graffiti", "pothole"]
    assert model.predict(["a pothole again"])[0].label == "pothole"


def test_rare_single_example_labels_are_left_out_of_a_large_set() -> None:
    labels = ["pothole"] * 30 + ["graffiti"] * 30 + ["sinkhole"]
    strategy, unlearned = choose_strategy(labels)
    assert (strategy, unlearned) == ("calibrated_svc", frozenset({"sinkhole"}))
    texts = [f"pothole number {n} on road {n % 7}" for n in range(30)]
    texts += [f"graffiti tag {n} sprayed on wall {n % 5}" for n in range(30)] + ["a sinkhole opened"]
    model = TextModel().fit(texts, labels)
    assert model.unlearned_labels == frozenset({"sinkhole"})
    assert model.classes == ["graffiti", "pothole"]


ROUTES = [
    ("pothole", "north", "North Roads"),
    ("pothole", "south", "South Roads"),
    ("graffiti", "north", "Clean City"),
    ("graffiti", "south", "Clean City"),
]
PHRASES = ["reported by a resident", "seen this morning", "near the bus stop", "next to the school", "again"]


def test_the_router_uses_the_district_and_the_category() -> None:
    items = [
        RouteInput(category, district, f"problem {phrase}")
        for category, district, _ in ROUTES
        for phrase in PHRASES
    ]
    agencies = [agency for _, _, agency in ROUTES for _ in PHRASES]
    router = RouterModel().fit(items, agencies)
    unseen_text = "problem found today"
    predictions = router.predict(
        [RouteInput(category, district, unseen_text) for category, district, _ in ROUTES]
    )
    assert [prediction.label for prediction in predictions] == [agency for _, _, agency in ROUTES]
    unknown_district = router.predict([RouteInput("graffiti", "east", unseen_text)])
    assert unknown_district[0].label == "Clean City"
    restored = RouterModel.from_bytes(router.to_bytes())
    assert restored.predict([RouteInput("pothole", "south", unseen_text)])[0].label == "South Roads"


class FixedPredictor:
    def __init__(self, answers: Sequence[Prediction]) -> None:
        self.answers = list(answers)

    def predict(self, items: Sequence[str]) -> list[Prediction]:
        return self.answers[: len(items)]


def test_evaluate_counts_per_label_and_at_the_confidence_threshold() -> None:
    predictor = FixedPredictor(
        [Prediction("a", 0.95), Prediction("a", 0.5), Prediction("b", 0.92), Prediction("a", 0.99)]
    )
    metrics = evaluate(predictor, ["1", "2", "3", "4"], ["a", "b", "b", "b"], min_confidence=0.9)
    assert metrics.accuracy == 0.5
    assert metrics.mean_confidence == pytest.approx(0.84)
    per_label = {item.label: (item.support, item.correct, item.accuracy) for item in metrics.per_label}
    assert per_label == {"b": (3, 1, pytest.approx(1 / 3)), "a": (1, 1, 1.0)}
    assert metrics.confident_share == 0.75
    assert metrics.confident_accuracy == pytest.approx(2 / 3)


def test_the_baseline_answers_the_commonest_training_label() -> None:
    assert most_frequent_baseline(["a", "a", "b"], ["a", "b", "b", "b"]) == 0.25
    with pytest.raises(LearnedModelError):
        most_frequent_baseline([], ["a"])
