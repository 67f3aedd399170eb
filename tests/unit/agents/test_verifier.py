import base64
import json

from agents.verifier import Snapshot, verify_snapshot
from tests.helpers.fakes import FakeChatModel, connection_error

JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes"
SNAPSHOT = Snapshot(data=JPEG, content_type="image/jpeg")


def verdict(value: str) -> str:
    return json.dumps({"verdict": value})


def test_text_only_model_says_unverified_without_calling() -> None:
    chat = FakeChatModel(replies=[])

    result = verify_snapshot(chat, vision=False, snapshot=SNAPSHOT, category_name="Fallen tree",
                             report="tree on the road")

    assert result.status == "unverified"
    assert "text-only" in result.reason
    assert (result.model, chat.calls) == (None, [])


def test_vision_model_gets_the_image_as_a_content_part_and_a_constrained_schema() -> None:
    chat = FakeChatModel(replies=[verdict("confirmed")])

    result = verify_snapshot(chat, vision=True, snapshot=SNAPSHOT, category_name="Fallen tree",
                             report="tree on the road")

    assert (result.status, result.model, result.prompt_version) == (
        "confirmed", "fake-model", "verify-v1")
    parts = chat.calls[0]["messages"][1].content
    image = next(part for part in parts if part["type"] == "image_url")
    assert image["image_url"]["url"] == "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    text = next(part for part in parts if part["type"] == "text")
    assert text["text"].startswith("<report>")
    assert chat.schema_sent()["properties"]["verdict"]["enum"] == [
        "confirmed", "rejected", "unverified"]


def test_rejected_is_passed_on() -> None:
    chat = FakeChatModel(replies=[verdict("rejected")])

    result = verify_snapshot(chat, vision=True, snapshot=SNAPSHOT, category_name="Graffiti",
                             report="paint on the wall")

    assert result.status == "rejected"


def test_no_snapshot_or_llm_down_is_unverified() -> None:
    down = FakeChatModel(replies=[connection_error()])

    no_image = verify_snapshot(down, vision=True, snapshot=None, category_name="Pothole",
                               report="hole")
    unreachable = verify_snapshot(down, vision=True, snapshot=SNAPSHOT, category_name="Pothole",
                                  report="hole")

    assert (no_image.status, no_image.reason) == ("unverified", "no snapshot")
    assert unreachable.status == "unverified" and "unavailable" in unreachable.reason
    assert len(down.calls) == 1
