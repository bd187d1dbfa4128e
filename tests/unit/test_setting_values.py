"""A setting with a bad value stops a function at start with one line that names the
variable and what it accepts (issue 12), never Python's ValueError."""

from __future__ import annotations

import pytest

from qiskit_operator.errors import UserError
from qiskit_operator.settings import Settings, number, whole_number


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("QOP_SANDBOX_WARM", "two"),
        ("QOP_MAX_QUBITS", "-3"),
        ("QOP_SANDBOX_MEMORY_MB", "1.5"),
        ("QOP_MAX_RETRIES", "3 times"),
    ],
)
def test_a_whole_number_setting_with_a_bad_value_names_the_variable_and_what_it_takes(
    name: str, value: str
) -> None:
    with pytest.raises(UserError) as raised:
        Settings.from_env({name: value})
    message = raised.value.message
    assert message.startswith(f"{name}={value!r} is not a whole number")
    assert "accepts 0, 1, 2" in message and "\n" not in message
    assert raised.value.reason == "InvalidSetting"


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_seconds_setting_with_a_bad_value_names_the_variable_and_what_it_takes(
    value: str,
) -> None:
    with pytest.raises(UserError) as raised:
        Settings.from_env({"QOP_SANDBOX_TIMEOUT_SECONDS": value})
    assert raised.value.message.startswith(
        f"QOP_SANDBOX_TIMEOUT_SECONDS={value!r} is not a number: it accepts 0 or more"
    )


def test_unset_or_blank_settings_take_their_defaults_and_good_values_are_read() -> None:
    assert whole_number({}, "WORKERS", 2) == 2
    assert whole_number({"WORKERS": "  "}, "WORKERS", 2) == 2
    assert whole_number({"WORKERS": " 4 "}, "WORKERS", 2) == 4
    assert number({"QOP_URL_TIMEOUT_SECONDS": "2.5"}, "QOP_URL_TIMEOUT_SECONDS", 10.0) == 2.5
    settings = Settings.from_env({"QOP_SANDBOX_MEMORY_MB": "512", "QOP_MAX_QUBITS": "12"})
    assert settings.sandbox.memory_bytes == 512 << 20
    assert settings.limits.max_qubits == 12
