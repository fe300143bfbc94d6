"""Our words for validation errors: the API's field messages and the settings' key messages come from one
table, and pydantic's own texts never reach a person."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ari_app.domain.validation import FALLBACK, MESSAGES, error_message
from ari_app.errors import ConfigError
from ari_app.settings import load_settings


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int = 0


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    flag: Literal[True] = True
    choice: Literal["complete", "cancel"] = "complete"
    text: Annotated[str, Field(min_length=2, max_length=3)] = "ab"
    count: Annotated[int, Field(ge=1, le=9)] = 1
    more: Annotated[int, Field(gt=0, lt=9)] = 1
    ratio: float = 0.0
    yes: bool = True
    items: Annotated[list[int], Field(min_length=1, max_length=2)] = Field(default_factory=lambda: [1])
    table: dict[str, int] = Field(default_factory=dict)
    inner: Inner = Field(default_factory=Inner)
    at: time = time(8, 0)
    day: date = date(2026, 1, 1)
    code: Annotated[str, Field(pattern=r"^[a-z]+$")] = "a"


class Lax(BaseModel):
    count: int = 0
    ratio: float = 0.0
    yes: bool = True
    at: time = time(8, 0)
    day: date = date(2026, 1, 1)


def errors(model: type[BaseModel], data: dict[str, Any]) -> list[Any]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return caught.value.errors()


BAD: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (Strict, {"flag": "yes"}, "must be true"),
    (Strict, {"choice": "later"}, 'must be "complete" or "cancel"'),
    (Strict, {"text": "a"}, "must be at least 2 characters long"),
    (Strict, {"text": "abcd"}, "must be at most 3 characters long"),
    (Strict, {"text": 5}, "must be text"),
    (Strict, {"count": 0}, "must be 1 or more"),
    (Strict, {"count": 10}, "must be 9 or less"),
    (Strict, {"more": 0}, "must be more than 0"),
    (Strict, {"more": 9}, "must be less than 9"),
    (Strict, {"count": "1"}, "must be a whole number"),
    (Strict, {"ratio": "1"}, "must be a number"),
    (Strict, {"yes": "yes"}, "must be true or false"),
    (Strict, {"items": "1"}, "must be a list"),
    (Strict, {"items": []}, "must have at least 1 items"),
    (Strict, {"items": [1, 2, 3]}, "must have at most 2 items"),
    (Strict, {"table": []}, "must be a JSON object"),
    (Strict, {"inner": 3}, "must be a JSON object"),
    (Strict, {"at": "8"}, "must be a time such as 08:30"),
    (Strict, {"day": "soon"}, "must be a date such as 2026-12-24"),
    (Strict, {"code": "A1"}, "has the wrong format"),
    (Strict, {"nope": 1}, "unknown field"),
    (Strict, {"inner": {"nope": 1}}, "unknown field"),
    (Lax, {"count": "many"}, "must be a whole number"),
    (Lax, {"count": 1.5}, "must be a whole number"),
    (Lax, {"ratio": "much"}, "must be a number"),
    (Lax, {"yes": "perhaps"}, "must be true or false"),
    (Lax, {"at": "25:00"}, "must be a time such as 08:30"),
    (Lax, {"day": "2026-13-40"}, "must be a date such as 2026-12-24"),
]


@pytest.mark.parametrize(("model", "data", "expected"), BAD)
def test_each_error_type_is_said_in_our_words(
    model: type[BaseModel], data: dict[str, Any], expected: str
) -> None:
    (error,) = errors(model, data)
    assert error["type"] in MESSAGES
    assert error_message(error) == expected


def test_a_missing_field_and_our_own_validator_speak_for_themselves() -> None:
    class Needs(BaseModel):
        name: str

        def model_post_init(self, _context: Any) -> None:
            if self.name == "x":
                raise ValueError("pick a longer name")

    (missing,) = errors(Needs, {})
    assert error_message(missing) == "this field is required"
    assert error_message(missing, field_word="key") == "this key is required"
    (ours,) = errors(Needs, {"name": "x"})
    assert error_message(ours) == "pick a longer name"


def test_an_error_type_we_have_no_words_for_is_not_passed_through() -> None:
    error: Any = {"type": "something_new", "loc": ("a",), "msg": "Input should be shiny", "input": 1}
    assert error_message(error) == FALLBACK


# ---------------------------------------------------------------------------------------- settings


def config_error(overrides: dict[str, Any], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ=environ or {}, overrides=overrides)
    return caught.value.message


def test_an_unknown_key_is_named_with_its_table() -> None:
    message = config_error({"calls": {"foo": 1}})
    assert message == "invalid configuration: unknown key 'foo' in [calls]"
    assert "Extra inputs" not in message


def test_an_unknown_key_from_the_environment_names_the_variable() -> None:
    message = config_error({}, {"CALLBACK_ARI_PASWORD": "x"})
    assert message == "invalid configuration: unknown key 'pasword' in [ari] (from CALLBACK_ARI_PASWORD)"


def test_unknown_sections_are_named() -> None:
    assert config_error({"foo": {}}) == "invalid configuration: unknown section [foo]"
    with pytest.raises(ConfigError, match=r"^unknown section \[nope\] \(from CALLBACK_NOPE_KEY\)$"):
        load_settings(None, environ={"CALLBACK_NOPE_KEY": "1"})


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"calls": {"amd": "sometimes"}}, '[calls] amd: must be "never", "final" or "every"'),
        ({"calls": {"max_attempts": "two"}}, "[calls] max_attempts: must be a whole number"),
        ({"database": {"pool_size": 0}}, "[database] pool_size: must be 1 or more"),
        ({"sms": {"send_after_final_miss": "perhaps"}}, "[sms] send_after_final_miss: must be true or false"),
        ({"quiethours": {"start": "25:00"}}, "[quiethours] start: must be a time such as 08:30"),
        ({"web": {"cors_origins": [1]}}, "[web] cors_origins, item 1: must be text"),
        ({"calls": 3}, "calls: must be a table"),
        (
            {"admins": [{"name": "A", "endpoint": "PJSIP/a"}, {"name": "B"}]},
            "[[admins]] #2 endpoint: this key is required",
        ),
        (
            {"admins": [{"name": "A", "endpoint": "PJSIP/a", "ring": 1}]},
            "unknown key 'ring' in [[admins]] #1",
        ),
        (
            {"quiethours": {"regions": {"US-FL": {"start": "08:00", "end": "20:00", "days": 1}}}},
            "unknown key 'days' in [quiethours.regions.US-FL]",
        ),
        (
            {"admins": [{"name": "A", "endpoint": "PJSIP/a"}, {"name": "A", "endpoint": "PJSIP/b"}]},
            "admins: admin names must be unique",
        ),
    ],
)
def test_a_bad_value_names_its_key(overrides: dict[str, Any], expected: str) -> None:
    message = config_error(overrides)
    assert message == f"invalid configuration: {expected}"
    assert "Input should" not in message
