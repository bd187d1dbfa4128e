"""kubectl qiskit: run circuit files as QiskitJobs, show their results and log lines,
cancel them.

Exit codes, as kubectl's: 0 done; 1 the job failed, is not found or the API server
refused; 2 the command line is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qiskit_operator.errors import OperatorError, UserError
from qiskit_operator.kube.client import KubeConnection, context_namespace
from qiskit_operator.kube.errors import APIError
from qiskit_operator.kube.jobs import JobsApi
from qiskit_operator.models import QiskitJob
from qiskit_operator.plugin import showing
from qiskit_operator.plugin.manifests import job_from_file

FINAL = ("Completed", "Failed", "Cancelled")
OPERATOR_NAMESPACE = "qiskit-operator"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.command(args))
    except (UserError, APIError) as error:
        print(f"error: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return 1
    except OperatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except TimeoutError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # Accepted before and after the subcommand, as kubectl's own flags are; a
    # subcommand's copy leaves the value alone unless it is given there.
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("-n", "--namespace", default=default, help="the jobs' namespace")
    parser.add_argument("--context", default=default, help="the kubeconfig context to use")
    parser.add_argument("--kubeconfig", default=default, help="path to the kubeconfig file")


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", choices=["json", "yaml"], help="print the object as JSON or YAML"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl qiskit", description=__doc__.split("\n")[0])
    _common(parser, suppress=False)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="make a QiskitJob from a circuit file and apply it")
    run.add_argument("file", type=Path, help="a circuit: .py, .qasm (2 or 3) or .qpy")
    run.add_argument("--shots", type=int, help="shots (default: the job's default, 1024)")
    run.add_argument("--backend", help="spec.backend.name, e.g. aer_simulator")
    run.add_argument("--name", help="the job's name (default: the file's name and a suffix)")
    run.add_argument("--wait", action="store_true", help="watch it until it finishes")
    run.add_argument("--timeout", type=float, default=600, help="seconds --wait waits")
    _output(run)
    _common(run, suppress=True)
    run.set_defaults(command=_run)

    results = commands.add_parser("results", help="show a job's counts or expectation values")
    results.add_argument("job")
    results.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw them")
    _output(results)
    _common(results, suppress=True)
    results.set_defaults(command=_results)

    logs = commands.add_parser("logs", help="every function's log lines for a job")
    logs.add_argument("job")
    logs.add_argument(
        "--log-dir",
        type=Path,
        help="read *.log files here (qop dev up's functions) instead of the pods' logs",
    )
    logs.add_argument(
        "--operator-namespace",
        default=OPERATOR_NAMESPACE,
        help="where the functions' pods run (default: qiskit-operator)",
    )
    _common(logs, suppress=True)
    logs.set_defaults(command=_logs)

    cancel = commands.add_parser(
        "cancel", help="cancel a job (spec.cancel: it stops and ends Cancelled; kept)"
    )
    cancel.add_argument("job")
    _common(cancel, suppress=True)
    cancel.set_defaults(command=_cancel)
    return parser


def _connection(args: argparse.Namespace) -> KubeConnection:
    return KubeConnection(args.kubeconfig, args.context)


def _namespace(args: argparse.Namespace) -> str:
    """--namespace, else the context's namespace, else default (as kubectl)."""
    return str(args.namespace or context_namespace(args.kubeconfig, args.context))


def _jobs(args: argparse.Namespace) -> JobsApi:
    return JobsApi(_connection(args), _namespace(args))


def _existing(api: JobsApi, name: str) -> QiskitJob:
    found = api.get(name)
    if found is None:
        raise UserError(f'qiskitjobs.quantum.io "{name}" not found in namespace {api.namespace}')
    return QiskitJob.model_validate(found)


def _phase(job: QiskitJob | None) -> str:
    status = job.status if job is not None else None
    return str(status.phase) if status is not None and status.phase else "Pending"


def _run(args: argparse.Namespace) -> int:
    api = _jobs(args)
    manifest = job_from_file(
        args.file, namespace=api.namespace, name=args.name, shots=args.shots, backend=args.backend
    )
    created = api.create(manifest)
    name = created["metadata"]["name"]
    if not args.wait:
        if args.output:
            print(showing.dump(created, args.output))
        else:
            print(f"qiskitjob.quantum.io/{name} created")
        return 0
    # Phases go to stderr when the object goes to stdout, so `-o json` stays parseable.
    line = showing.PhaseLine(sys.stderr if args.output else sys.stdout)
    final = api.wait(
        name,
        lambda body: body is None or _phase(QiskitJob.model_validate(body)) in FINAL,
        args.timeout,
        on_change=lambda body: line(QiskitJob.model_validate(body)),
    )
    if final is None:
        print(f"error: qiskitjob {api.namespace}/{name} was deleted", file=sys.stderr)
        return 1
    job = QiskitJob.model_validate(final)
    if args.output:
        print(showing.dump(final, args.output))
    elif _phase(job) == "Completed":
        print("\n".join(showing.results_text(job, _full_result(api, job))))
    return 0 if _phase(job) == "Completed" else 1


def _results(args: argparse.Namespace) -> int:
    api = _jobs(args)
    job = _existing(api, args.job)
    phase = _phase(job)
    if phase != "Completed":
        message = job.status.message if job.status is not None else None
        print(
            f"error: qiskitjob {api.namespace}/{args.job} is {phase}"
            + (f": {message}" if message else "; its results come when it completes"),
            file=sys.stderr,
        )
        return 1
    full = _full_result(api, job)
    if args.output:
        print(showing.dump(showing.results_document(job, full), args.output))
    else:
        print("\n".join(showing.results_text(job, full)))
    if args.plot:
        from qiskit_operator import plots

        plots.save(plots.job_figure(job, full), args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _full_result(api: JobsApi, job: QiskitJob) -> dict[str, Any] | None:
    """The job's full JSON result from its ConfigMap, or its S3 object (docs/storage.md),
    when it stored one there."""
    results = job.status.results if job.status is not None else None
    location = results.location if results is not None else None
    if location and location.startswith("s3://"):
        return _s3_result(job, location)
    if not location or not location.startswith("configmap://"):
        return None
    data = api.configmap(location.rsplit("/", 1)[-1]) or {}
    text = data.get("result.json")
    return dict(json.loads(text)) if text else None


def _s3_result(job: QiskitJob, location: str) -> dict[str, Any] | None:
    """The JSON object at `location`, read with the user's own AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY; without them, a note and the status's summary only."""
    from qiskit_operator.storage.reading import read_result, user_key

    output = job.spec.output
    if output is not None and output.format != "json":
        return None
    key = user_key(os.environ)
    if key is None:
        print(
            f"note: the full result is at {location}; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY to read it here (docs/storage.md)",
            file=sys.stderr,
        )
        return None
    return dict(json.loads(read_result(location, output, key, os.environ)))


def _logs(args: argparse.Namespace) -> int:
    from qiskit_operator import tracing

    api = _jobs(args)
    job = _existing(api, args.job)
    trace_id = tracing.trace_id_for(job.metadata.uid or "")
    assert trace_id is not None  # the API server gave it a uid
    found = 0
    for source, line in _log_lines(args):
        if trace_id in line:
            print(f"{source}: {line}")
            found += 1
    if not found:
        print(f"no log lines with trace id {trace_id} (job {args.job})", file=sys.stderr)
    return 0


def _log_lines(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    if args.log_dir is None:
        from qiskit_operator.kube.podlogs import function_log_lines

        yield from function_log_lines(_connection(args), args.operator_namespace)
        return
    if not args.log_dir.is_dir():
        raise UserError(f"--log-dir {args.log_dir} is not a folder of *.log files")
    for path in sorted(args.log_dir.glob("*.log")):
        with path.open(errors="replace") as file:
            for line in file:
                yield path.stem, line.rstrip("\n")


def _cancel(args: argparse.Namespace) -> int:
    api = _jobs(args)
    if not api.cancel(args.job):
        raise UserError(
            f'qiskitjobs.quantum.io "{args.job}" not found in namespace {api.namespace}'
        )
    print(
        f'qiskitjob.quantum.io "{args.job}" cancelled (spec.cancel: true; kubectl delete '
        "qjob removes it with its results)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
