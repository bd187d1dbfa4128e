"""Log lines: one JSON object a line with the job, event and trace they are about,
LOG_LEVEL and LOG_FORMAT obeyed, and nothing secret or circuit-shaped in them."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator

import pytest

from qiskit_operator import logs
from qiskit_operator.settings import Settings

SECRET = "s3cr3t-Value-42"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A fresh logging setup writing JSON to a buffer; the old one back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    floors = {name: logging.getLogger(name).level for name in ("qiskit", "kubernetes")}
    buffer = io.StringIO()
    logs.configure("DEBUG", "json", stream=buffer)
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in floors.items():
        logging.getLogger(name).setLevel(level)
    for name in ("gunicorn.error", "gunicorn.access"):
        gunicorn = logging.getLogger(name)
        for installed in list(gunicorn.filters):
            gunicorn.removeFilter(installed)
        for handler in list(gunicorn.handlers):
            gunicorn.removeHandler(handler)
    logging.captureWarnings(False)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_time_level_logger_and_message(
    stream: io.StringIO,
) -> None:
    logging.getLogger("qiskit_operator.example").info("validated %s", "default/bell")
    (line,) = lines(stream)
    assert line["level"] == "INFO"
    assert line["logger"] == "qiskit_operator.example"
    assert line["message"] == "validated default/bell"
    assert str(line["time"]).endswith("Z") and "T" in str(line["time"])


@pytest.fixture
def urllib3_unleveled() -> Iterator[None]:
    """The Kubernetes client below 37 (what the ibm and braket extras allow) sets urllib3's
    logger to WARNING when a test builds its Configuration: that level is not ours."""
    urllib3 = logging.getLogger("urllib3")
    level = urllib3.level
    urllib3.setLevel(logging.NOTSET)
    yield
    urllib3.setLevel(level)


@pytest.mark.usefixtures("urllib3_unleveled")
def test_bound_fields_reach_every_module_and_end_with_the_block(stream: io.StringIO) -> None:
    with logs.bound(job="default/bell", trace_id="ab" * 16):
        with logs.bound(event_id="e1", job="default/other"):
            logging.getLogger("qiskit_operator.status.writer").warning("inner")
        logging.getLogger("urllib3.connectionpool").debug("outer")
    logging.getLogger("qiskit_operator.x").info("after")
    inner, outer, after = lines(stream)
    assert inner["job"] == "default/other" and inner["event_id"] == "e1"
    assert inner["trace_id"] == outer["trace_id"] == "ab" * 16
    assert outer["job"] == "default/bell" and "event_id" not in outer
    assert "job" not in after and "trace_id" not in after


def test_an_exception_is_one_line_with_error_and_traceback_fields(stream: io.StringIO) -> None:
    try:
        raise ValueError("the backend answered nonsense")
    except ValueError:
        logging.getLogger("qiskit_operator.serving").exception("validate failed on event e1")
    assert len(stream.getvalue().splitlines()) == 1
    (line,) = lines(stream)
    assert line["error"] == "ValueError: the backend answered nonsense"
    assert "Traceback (most recent call last)" in str(line["exception"])
    assert "test_logs.py" in str(line["exception"])


def test_extra_fields_are_kept_and_secrets_among_them_dropped(stream: io.StringIO) -> None:
    logging.getLogger("x").info(
        "sent",
        extra={"attempt": 2, "api_token": SECRET, "code": "OPENQASM 2.0; qreg q[2];", "to": "b"},
    )
    (line,) = lines(stream)
    assert line["attempt"] == 2 and line["to"] == "b"
    assert line["api_token"] == "[redacted]"
    assert line["code"] == "[redacted, 24 chars]"
    assert SECRET not in stream.getvalue()


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"GET /apis failed: headers {{'Authorization': 'Bearer {SECRET}'}}", "'Authorization': '"),
        (f"Authorization: Basic {SECRET}", "Authorization: "),
        (f"using bearer {SECRET}", "bearer "),
        (f"could not reach https://admin:{SECRET}@broker.example/ after 3 tries", "https://"),
        (f"fetched https://files.example/c.qasm?token={SECRET}&x=1", "?token="),
        (f'{{"password": "{SECRET}", "user": "ann"}}', '"user": "ann"'),
        (f"kubeconfig client-key-data: {SECRET}", "client-key-data: "),
        (f"secret={SECRET}", "secret="),
        (
            "key: -----BEGIN PRIVATE KEY-----\nMIIEv" + SECRET + "\n-----END PRIVATE KEY-----",
            "key: ",
        ),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0i.c2lnbmF0dXJl" + SECRET, "token "),
    ],
)
def test_credentials_never_reach_a_line(stream: io.StringIO, text: str, kept: str) -> None:
    logging.getLogger("qiskit_operator.routing.delivery").warning(text)
    (line,) = lines(stream)
    assert SECRET not in stream.getvalue()
    assert kept in str(line["message"])
    assert "redacted" in str(line["message"])


@pytest.mark.parametrize(
    "source",
    [
        'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncx q[0],q[1];',
        "OPENQASM 3.0; qubit[2] q; h q[0];",
        "from qiskit import QuantumCircuit\nqc = QuantumCircuit(2)\nqc.h(0)",
        "qc = QuantumCircuit(2, 2)\nqc.h(0)",
    ],
)
def test_a_circuit_source_is_never_logged_in_message_or_exception(
    stream: io.StringIO, source: str
) -> None:
    log = logging.getLogger("qiskit_operator.validation_api")
    log.info("could not load %s", source)
    try:
        raise RuntimeError(f"bad circuit: {source}")
    except RuntimeError:
        log.exception("validate failed")
    first, second = lines(stream)
    assert str(first["message"]).startswith("could not load ")
    assert str(first["message"]).endswith(" chars]")
    assert str(second["error"]).startswith("RuntimeError: bad circuit: ")
    assert "[redacted circuit source, " in str(second["error"])
    assert "[redacted circuit source, " in str(second["exception"])
    assert "q[0]" not in stream.getvalue() and "h(0)" not in stream.getvalue()


def test_long_values_are_cut_and_long_unbroken_runs_measured() -> None:
    assert logs.redact("word " * 1000, 100) == "word " * 20 + "... [4900 more chars]"
    blob = "QUJD" * 100
    assert logs.redact(f"qpy {blob} end") == "qpy [redacted base64, 400 chars] end"


def test_ordinary_words_about_tokens_and_secrets_are_left_alone() -> None:
    text = "the token expired; basic gates only; Secret default/creds not found; max_tokens=5"
    assert logs.redact(text) == text


def test_log_level_is_respected(stream: io.StringIO) -> None:
    logs.configure("WARNING", "json", stream=stream)
    logging.getLogger("qiskit_operator.x").info("hidden")
    logging.getLogger("qiskit_operator.x").warning("shown")
    assert [line["message"] for line in lines(stream)] == ["shown"]


def test_the_kubernetes_client_never_logs_its_response_bodies(stream: io.StringIO) -> None:
    # At DEBUG it logs every response body: ConfigMaps with circuit sources, Secrets.
    assert not logging.getLogger("kubernetes.client.rest").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("qiskit_operator.kube.client").isEnabledFor(logging.DEBUG)


@pytest.mark.parametrize(
    ("env", "terminal", "chosen"),
    [
        ({}, True, "text"),
        ({}, False, "json"),
        ({"LOG_FORMAT": "json"}, True, "json"),
        ({"LOG_FORMAT": "text"}, False, "text"),
        ({"LOG_FORMAT": "yaml"}, False, "json"),
    ],
)
def test_log_format_when_set_decides_and_unset_a_terminal_gets_text(
    stream: io.StringIO, env: dict[str, str], terminal: bool, chosen: str
) -> None:
    target = Terminal() if terminal else io.StringIO()
    configured = Settings.from_env(env).log_format
    assert logs.configure("INFO", configured, stream=target) == chosen


def test_text_format_is_the_old_human_one_with_the_job_at_the_end(stream: io.StringIO) -> None:
    target = Terminal()
    logs.configure("INFO", "", stream=target)
    with logs.bound(job="default/bell"):
        logging.getLogger("qiskit_operator.routing.broker").warning(f"dropping: token={SECRET}")
    assert target.getvalue() == (
        "WARNING qiskit_operator.routing.broker: dropping: token=[redacted] [job=default/bell]\n"
    )


def test_gunicorns_own_log_lines_join_the_json_stream(
    stream: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    from gunicorn.config import Config  # type: ignore[import-untyped]
    from gunicorn.glogging import Logger  # type: ignore[import-untyped]

    gunicorn = Logger(Config())  # installs its own handler, as `qop serve` does after main()
    try:
        raise OSError("worker died")
    except OSError:
        gunicorn.exception("Exception in worker process")
    gunicorn.error("Worker (pid:%s) was sent SIGKILL! Perhaps out of memory?", 41)
    first, second = lines(stream)
    assert first["logger"] == "gunicorn.error" and first["error"] == "OSError: worker died"
    assert second["message"] == "Worker (pid:41) was sent SIGKILL! Perhaps out of memory?"
    assert capsys.readouterr().err == ""  # gunicorn's plain-text handler wrote nothing


def test_python_warnings_become_json_lines(stream: io.StringIO) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("an old call", UserWarning, stacklevel=1)
    (line,) = lines(stream)
    assert line["logger"] == "py.warnings" and "an old call" in str(line["message"])
