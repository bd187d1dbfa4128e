"""`qop`: run a QiskitJob on this machine, validate a circuit file, serve a function,
write the CRDs."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from qiskit_operator import __version__, logs
from qiskit_operator.errors import UserError
from qiskit_operator.settings import Settings, whole_number

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from qiskit_operator.local.pipeline import LocalPipeline
    from qiskit_operator.models import QiskitJob
    from qiskit_operator.routing.senders import BrokerAuth
    from qiskit_operator.serving import FunctionEndpoint


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except UserError as error:  # a setting with a bad value: one line, before anything starts
        print(f"qop: {error.message}", file=sys.stderr)
        return 2
    # JSON lines on stderr (text on a terminal unless LOG_FORMAT says), redacted; see
    # docs/observability.md.
    # Commands that print their own progress (run, validate, exec) log only warnings
    # unless LOG_LEVEL asks for more: a job's moves are already on the screen.
    quiet = getattr(args, "own_display", False) and "LOG_LEVEL" not in os.environ
    logs.configure("WARNING" if quiet else settings.log_level, settings.log_format)
    try:
        return int(args.command(args, settings))
    except UserError as error:
        print(f"qop: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `qop run ... | head`: the reader left, nothing to report
        sys.stderr.close()
        return 141


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qop", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a QiskitJob YAML through the whole pipeline")
    run.add_argument("job", type=Path)
    run.add_argument(
        "--http", action="store_true", help="run each function as a real HTTP server on loopback"
    )
    run.add_argument("--output", choices=["text", "json"], default="text")
    run.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="draw the counts or the sweep (plot extra)"
    )
    run.set_defaults(command=_run, own_display=True)

    validate = commands.add_parser("validate", help="check a circuit file and print its metadata")
    validate.add_argument("file", type=Path)
    validate.add_argument("--variable", help="Python: the variable holding the circuit")
    validate.add_argument(
        "--backend", help="aer_simulator (default), generic_backend_<N>q or a fake device"
    )
    validate.add_argument("--optimization-level", type=int, default=1, choices=range(4))
    validate.add_argument("--output", choices=["text", "json"], default="text")
    validate.add_argument(
        "--draw", type=Path, metavar="FILE.png", help="draw the circuit (plot extra)"
    )
    validate.set_defaults(command=_validate, own_display=True)

    serve = commands.add_parser("serve", help="serve one function over HTTP")
    serve.add_argument("function", choices=["validate", "execute", "reconcile"])
    serve.add_argument(
        "--port", type=int, default=None, help="default: $PORT, else 8000 for validate, 8080"
    )
    serve.add_argument("--host", default="0.0.0.0")
    serve.set_defaults(command=_serve)

    run_env = commands.add_parser(
        "exec",
        help="the original executor's contract: run CIRCUIT_CODE from the environment "
        "(BACKEND_TYPE, SHOTS, OPTIMIZATION_LEVEL) and print the results as JSON",
    )
    run_env.set_defaults(command=_exec, own_display=True)

    watch = commands.add_parser(
        "watch", help="send ApiServerSource-shaped events for QiskitJob changes to a sink"
    )
    watch.add_argument("--sink", required=True, help="URL that takes CloudEvents (a Broker)")
    watch.add_argument("--namespace", help="only this namespace (default: all)")
    watch.set_defaults(command=_watch)

    broker = commands.add_parser(
        "broker", help="a Broker on this machine: routes by knative/triggers.yaml over HTTP"
    )
    broker.add_argument("--port", type=int, default=8090)
    broker.add_argument("--host", default="127.0.0.1")
    broker.add_argument(
        "--subscriber",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help="where a Trigger's Service is, e.g. qiskit-validate=http://127.0.0.1:8000/",
    )
    broker.add_argument(
        "--broker", default="qiskit", help="its name, for the EventPolicies that apply to it"
    )
    broker.set_defaults(command=_broker)

    dev = commands.add_parser("dev", help="developer tools")
    dev_commands = dev.add_subparsers(required=True, metavar="TOOL")
    cluster = dev_commands.add_parser(
        "cluster", help="a real kube-apiserver, etcd and controller-manager on loopback"
    )
    cluster.add_argument("--dir", type=Path, default=None, help="where its state goes")
    cluster.set_defaults(command=_dev_cluster, stack=False, source="watch")
    up = dev_commands.add_parser(
        "up", help="the control plane and the whole stack: then kubectl apply -f examples/"
    )
    up.add_argument("--dir", type=Path, default=None, help="where its state goes")
    up.add_argument(
        "--source",
        choices=["watch", "adapter"],
        default="watch",
        help="qop watch, or Knative's ApiServerSource receive adapter",
    )
    up.add_argument(
        "--node",
        action="store_true",
        help="a real node (kubelet, containerd, kube-proxy, CoreDNS) in a network namespace, "
        "the functions as pods; needs root (docs/install.md)",
    )
    up.add_argument(
        "--knative",
        action="store_true",
        help="--node with Knative Serving and Eventing built from their Go modules and "
        "knative/ applied: the functions as Knative Services (docs/knative.md)",
    )
    up.set_defaults(command=_dev_cluster, stack=True)

    crds = commands.add_parser("crds", help="write crds/*.yaml from the models")
    crds.add_argument("--dir", type=Path, default=Path("crds"))
    crds.set_defaults(command=_crds)
    return parser


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from qiskit_operator import tracing
    from qiskit_operator.budgets.stores import MemoryBudgets
    from qiskit_operator.catalogue.refreshing import MemoryBackends
    from qiskit_operator.local.display import TRACE_ANNOTATION, PhasePrinter, summary
    from qiskit_operator.local.jobfile import load_companions, load_job_manifest
    from qiskit_operator.local.pipeline import LocalPipeline

    manifest = load_job_manifest(args.job)
    budgets, backends = load_companions(args.job)
    # --http's servers listen on loopback for this one run, and only its Broker posts
    # to them: their warning that events go unauthenticated says nothing here.
    logging.getLogger("qiskit_operator.auth.verifying").setLevel(logging.ERROR)
    with LocalPipeline(
        settings,
        http=args.http,
        catalogue=MemoryBackends(backends),
        budgets=MemoryBudgets(budgets),
    ) as pipeline:
        if args.output == "text":
            printer = PhasePrinter(sys.stdout)
            pipeline.store.subscribe(printer)
            meta = manifest["metadata"]
            printer.start(f"{meta.get('namespace', 'default')}/{meta['name']}")
        job = pipeline.run(manifest)
    if args.plot is not None:
        _plot(job, pipeline, args.plot)
    if args.output == "json":
        document = job.model_dump(by_alias=True, exclude_none=True, mode="json")
        trace_id = tracing.trace_id_for(job.metadata.uid or "")
        if trace_id:  # where to look for the job's spans and log lines
            annotations = document["metadata"].setdefault("annotations", {})
            annotations[TRACE_ANNOTATION] = trace_id
        print(json.dumps(document, indent=2))
    else:
        print()
        print("\n".join(summary(job)))
    return 0 if job.status and job.status.phase and job.status.phase.value == "Completed" else 1


def _plot(job: QiskitJob, pipeline: LocalPipeline, path: Path) -> None:
    """The job's picture, from its full result when it stored one as JSON."""
    from qiskit_operator import plots

    if job.status is None or job.status.results is None:
        return  # nothing to draw: the summary says why
    stored = pipeline.store.configmaps.get((job.metadata.namespace, f"{job.metadata.name}-results"))
    text = stored.data.get("result.json") if stored is not None else None
    plots.save(plots.job_figure(job, json.loads(text) if text else None), path)
    print(f"wrote {path}", file=sys.stderr)


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from qiskit_operator import wiring
    from qiskit_operator.circuits.formats import format_for_filename
    from qiskit_operator.validation_api import response_for

    try:
        raw = args.file.read_bytes()
    except OSError as error:
        raise UserError(f"{args.file}: {error.strerror}") from error
    fmt = format_for_filename(args.file.name)
    code = base64.b64encode(raw).decode() if fmt == "qpy" else raw.decode(errors="replace")
    validator = wiring.validator(settings)
    try:
        report = validator.inspect(
            code,
            fmt,
            variable=args.variable,
            backend=args.backend,
            optimization_level=args.optimization_level,
        )
    except UserError as error:
        print(f"{args.file}: invalid: {error.message}", file=sys.stderr)
        return 1
    finally:
        validator.close()
    if args.draw is not None:
        from qiskit_operator.circuits.drawing import draw_circuit

        draw_circuit(report.qpy, args.draw)
        print(f"wrote {args.draw}", file=sys.stderr)
    response = response_for(report).model_dump(exclude_none=True)
    if args.output == "json":
        print(json.dumps(response, indent=2))
    else:
        for key, value in response.items():
            if value not in ([], {}):
                print(f"{key:>24}: {value}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import functions_framework
    from functions_framework._http import create_server

    source = settings.functions_dir / args.function / "main.py"
    if not source.exists():
        raise UserError(f"{source} not found; set QOP_FUNCTIONS_DIR to the functions/ folder")
    _require_writable_tmp()
    env = os.environ
    port = args.port or whole_number(env, "PORT", 8000 if args.function == "validate" else 8080)
    # MAX_WORKERS, as the original validation service documents it: requests served at once.
    threads = whole_number(env, "MAX_WORKERS", whole_number(env, "THREADS", 8))
    # One process per core: a worker's Python is bound to one core by the GIL
    # (validate measured 873 req/s with one worker, 1856 with two, on 2 cores).
    workers = whole_number(env, "WORKERS", os.cpu_count() or 1)
    # On SIGTERM gunicorn stops accepting, lets the requests in flight finish for at most
    # this long, then kills its workers and exits. 25 s ends before the SIGKILL of a
    # Deployment's default terminationGracePeriodSeconds (30 s) and of docker-compose.yml's
    # stop_grace_period (30 s); under Knative the queue-proxy has drained before SIGTERM.
    graceful = whole_number(env, "QOP_GRACEFUL_TIMEOUT_SECONDS", 25)
    tls = _tls_options(settings)
    prometheus = _metrics_options(settings, args.host, port)  # before the function is loaded
    app = functions_framework.create_app(target=args.function, source=str(source))  # type: ignore[no-untyped-call]
    endpoint = _endpoint(source)
    served, worker = _application(app, settings, threads, args.function, endpoint)
    server = create_server(  # type: ignore[no-untyped-call]
        served,
        debug=False,
        threads=threads,
        workers=workers,
        graceful_timeout=graceful,
        **_without_control_socket(),
        **tls,
        **prometheus,
        **worker,
        **_warming(endpoint),
    )
    server.run(args.host, port)
    return 0


# Below gunicorn's default worker timeout (30 s), which counts from the worker's boot.
WARMING_SECONDS = 20.0


def _warming(endpoint: FunctionEndpoint | None) -> dict[str, object]:
    """A gunicorn hook that warms each worker as it boots, before it takes connections:
    asking whether it is ready starts what readiness waits for (validate's sandbox),
    and the hook waits, up to WARMING_SECONDS, for the answer to be yes. /ready then
    answers the same from whichever worker the probe meets; a worker accepting
    connections while its sandbox still started answered 503 after another had said
    200. Past the bound it takes connections anyway and its /ready says 503 until
    warm (gunicorn's worker timeout must not take a slow start for a hung worker)."""
    if endpoint is None:
        return {}

    def post_worker_init(worker: object) -> None:
        deadline = time.monotonic() + WARMING_SECONDS
        while not endpoint.handler.ready() and time.monotonic() < deadline:
            time.sleep(0.05)

    return {"post_worker_init": post_worker_init}


def _endpoint(source: Path) -> FunctionEndpoint | None:
    """The FunctionEndpoint the function's main.py made, if it made one: functions-framework
    registers the module it loaded under its file's stem."""
    from qiskit_operator.serving import FunctionEndpoint

    found = getattr(sys.modules.get(source.stem), "endpoint", None)
    return found if isinstance(found, FunctionEndpoint) else None


def _require_writable_tmp() -> None:
    """gunicorn's worker heartbeats and the metrics of every worker live in files under
    the temporary directory; a read-only root filesystem (the images, knative/services.yaml)
    has none unless one is mounted, and Python's own error says only 'No usable temporary
    directory found', from deep inside."""
    import tempfile

    try:
        tempfile.gettempdir()
    except FileNotFoundError:
        raise UserError(
            "no writable temporary directory (/tmp, or $TMPDIR): mount a writable /tmp "
            "(an emptyDir on Kubernetes, --tmpfs /tmp with docker run)",
            reason="InvalidSetting",
        ) from None


def _application(
    app: WSGIApplication,
    settings: Settings,
    threads: int,
    function: str,
    endpoint: FunctionEndpoint | None = None,
) -> tuple[object, dict[str, object]]:
    """The application gunicorn serves and its worker class, by QOP_SERVER_MODEL.

    bounded: each request is received whole, within QOP_MAX_REQUEST_BYTES and
    QOP_REQUEST_RECEIVE_SECONDS, on an event loop, before one of `threads` threads
    runs the Flask application (qiskit_operator/intake). gthread: gunicorn's threaded
    worker as before, where a slow client holds a thread: kept only to compare them.
    """
    bounds = settings.requests
    if bounds.server_model == "gthread":
        return app, {}
    if bounds.server_model != "bounded":
        raise UserError(
            f"QOP_SERVER_MODEL is {bounds.server_model!r}; use bounded (the default) or gthread"
        )
    if bounds.max_buffered_bytes < bounds.max_body_bytes:
        raise UserError(
            f"QOP_MAX_BUFFERED_BYTES ({bounds.max_buffered_bytes}) is below "
            f"QOP_MAX_REQUEST_BYTES ({bounds.max_body_bytes}): a worker could take no "
            "request of the largest size; raise it, or lower QOP_MAX_REQUEST_BYTES"
        )
    from qiskit_operator.intake.buffering import BufferedWsgi
    from qiskit_operator.intake.worker import BoundedWorker

    buffered = BufferedWsgi(
        app,
        threads=threads,
        max_body_bytes=bounds.max_body_bytes,
        receive_seconds=bounds.receive_seconds,
        max_buffered_bytes=bounds.max_buffered_bytes,
        function=function,
        answer_body=endpoint.answer_body if endpoint is not None else None,
    )
    return buffered, {"worker_class": BoundedWorker}


def _without_control_socket() -> dict[str, bool]:
    """gunicorn 25.1+ opens a control socket (for gunicornc) from a thread in the master,
    which then forks workers, under a writable $HOME: nothing here uses it, and the
    images' root filesystem is read-only, so it is turned off where it exists."""
    from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]

    known = {setting.name for setting in KNOWN_SETTINGS}
    return {"control_socket_disable": True} if "control_socket_disable" in known else {}


def _metrics_options(settings: Settings, host: str, port: int) -> dict[str, object]:
    """gunicorn settings for /metrics: every worker's counts, added up at each scrape.

    prometheus-client picks its multiprocess mode when first imported, so the
    directory is set here, before the function's module imports it: a fresh one per
    start, so no earlier run or other server mixes in. A separate METRICS_ADDR is one
    more gunicorn listener served by the same workers: nothing of its own runs in the
    master, which forks a new worker whenever one dies (a thread there could hold a
    lock across that fork), and it drains and stops with the function's port.
    """
    import tempfile

    directory = tempfile.mkdtemp(prefix="qop-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from qiskit_operator import metrics

    options: dict[str, object] = {**metrics.gunicorn_hooks(directory)}
    address = metrics.MetricsAddress.parse(settings.metrics_addr)
    if address.port is not None:
        if address.port == port:
            raise UserError(
                f"METRICS_ADDR names the function's own port {port}; leave it empty to serve "
                "/metrics there, or give another port"
            )
        listener = address.host or host
        listener = f"[{listener}]" if ":" in listener else listener
        options["bind"] = [f"{host}:{port}", f"{listener}:{address.port}"]
    return options


def _tls_options(settings: Settings) -> dict[str, str]:
    """gunicorn's certfile and keyfile, from TLS_CERT_FILE and TLS_KEY_FILE (both or neither):
    HTTPS for what an API server calls, such as validate's /admission webhook."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise UserError("set both TLS_CERT_FILE and TLS_KEY_FILE to serve HTTPS, or neither")
    for path in (cert, key):
        if not path.is_file():
            raise UserError(f"{path} (TLS_CERT_FILE or TLS_KEY_FILE) is not a readable file")
    return {"certfile": str(cert), "keyfile": str(key)}


def _exec(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 with the results, or 1 with `success: false` and the error, as JSON."""
    from qiskit_operator.local.pipeline import LocalPipeline

    def fail(message: str) -> int:
        print(json.dumps({"success": False, "error": message}))
        return 1

    code = os.environ.get("CIRCUIT_CODE", "")
    if not code.strip():
        return fail("CIRCUIT_CODE is empty; put the circuit (Python or OpenQASM) there")
    try:
        shots = int(os.environ.get("SHOTS", "1024"))
        level = int(os.environ.get("OPTIMIZATION_LEVEL", "1"))
    except ValueError as error:
        return fail(f"SHOTS and OPTIMIZATION_LEVEL must be integers: {error}")
    manifest = {
        "apiVersion": "quantum.io/v1",
        "kind": "QiskitJob",
        "metadata": {"name": "exec"},
        "spec": {
            "backend": {"type": os.environ.get("BACKEND_TYPE", "local_simulator")},
            "circuit": {"source": "inline", "code": code},
            "execution": {"shots": shots, "optimizationLevel": level},
        },
    }
    with LocalPipeline(settings) as pipeline:
        job = pipeline.run(manifest)
    status = job.status
    if status is None or status.phase is None or status.phase.value != "Completed":
        return fail(status.message if status and status.message else "the job did not complete")
    results, meta = status.results, status.circuit_metadata
    assert results is not None
    print(
        json.dumps(
            {
                "success": True,
                "counts": results.counts,
                "shots": results.shots,
                "backend": status.selected_backend,
                "execution_time": results.execution_time,
                "circuit_hash": meta.hash if meta else None,
                "qubits": meta.qubits if meta else None,
                "depth": meta.depth if meta else None,
                "reproducibility": results.reproducibility.model_dump(by_alias=True)
                if results.reproducibility
                else None,
            },
            indent=2,
        )
    )
    return 0


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    from qiskit_operator.auth.tokens import RequestedToken
    from qiskit_operator.events.envelope import Envelope
    from qiskit_operator.kube.client import KubeConnection
    from qiskit_operator.kube.watching import JobWatcher
    from qiskit_operator.routing.delivery import (
        AuthenticatedSubscriber,
        HttpSubscriber,
        Subscriber,
        deliver_with_retry,
    )
    from qiskit_operator.routing.triggers import DeliverySpec

    connection = KubeConnection()
    sink: Subscriber = HttpSubscriber("sink", args.sink)
    sender = settings.sender
    if sender.audience and sender.service_account:
        # As Knative's ApiServerSource adapter does with the same variables.
        token = RequestedToken(
            connection, sender.namespace, sender.service_account, sender.audience
        )
        sink = AuthenticatedSubscriber(HttpSubscriber("sink", args.sink), token)
    retry = DeliverySpec(retry=8, backoff_delay_seconds=0.2)

    def emit(event: Envelope) -> None:
        deliver_with_retry(sink, event, retry)

    JobWatcher(connection, emit, args.namespace).run()
    return 0


def _broker(args: argparse.Namespace, settings: Settings) -> int:
    from qiskit_operator.routing.delivery import HttpSubscriber, Subscriber
    from qiskit_operator.routing.ingress import BrokerServer
    from qiskit_operator.routing.routes import Routes
    from qiskit_operator.routing.triggers import load_triggers

    subscribers: dict[str, Subscriber] = {}
    for pair in args.subscriber:
        name, _, url = pair.partition("=")
        if not url:
            raise UserError(f"--subscriber {pair!r} is not SERVICE=URL")
        subscribers[name] = HttpSubscriber(name, url)
    triggers = load_triggers(settings.knative_dir / "triggers.yaml")
    auth = _broker_auth(settings, args.broker)
    try:
        server = BrokerServer(
            Routes(triggers, subscribers),
            host=args.host,
            port=args.port,
            auth=auth,
            max_body_bytes=settings.requests.max_body_bytes,
        )
        server.start()
    except ValueError as error:
        raise UserError(f"{error}; give each with --subscriber SERVICE=URL") from error
    print(f"broker listening on {server.url}", flush=True)
    threading.Event().wait()
    return 0


def _broker_auth(settings: Settings, broker: str) -> BrokerAuth | None:
    """With QOP_AUTH_AUDIENCE (the Broker's audience): check tokens and
    knative/eventpolicies.yaml, and deliver with each Trigger's token, requested
    with KUBECONFIG's credentials; without, believe every sender (a warning)."""
    from qiskit_operator.auth.keys import ApiServerDocuments, IssuerKeys
    from qiskit_operator.auth.policy import PolicyError, load_broker_policy
    from qiskit_operator.auth.verifying import SenderVerifier
    from qiskit_operator.kube.client import KubeConnection
    from qiskit_operator.routing.senders import BrokerAuth, TriggerTokens

    auth = settings.auth
    if not auth.audience:
        logging.getLogger("qop.broker").warning(
            "the Broker takes events without checking who sent them and sends no tokens: "
            "set QOP_AUTH_AUDIENCE (e.g. eventing.knative.dev/broker/qiskit-operator/qiskit)"
        )
        return None
    path = settings.knative_dir / "eventpolicies.yaml"
    try:
        policy = load_broker_policy(path, broker)
    except (OSError, PolicyError) as error:
        raise UserError(f"{path}: {error}") from error
    documents = ApiServerDocuments(auth.api_server, auth.api_ca_file, auth.api_token_file)
    return BrokerAuth(
        SenderVerifier(IssuerKeys(documents), auth.audience, senders=()),
        policy,
        TriggerTokens(KubeConnection()),
    )


def _dev_cluster(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import tempfile

    from qiskit_operator.local.devcluster import REPO, Binaries, ClusterError, DevCluster
    from qiskit_operator.local.stack import Stack

    if getattr(args, "node", False) or getattr(args, "knative", False):
        return _dev_node(knative=getattr(args, "knative", False))
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="qop-cluster-"))
    stack: Stack | None = None
    try:
        cluster = DevCluster(workdir / "cluster", Binaries.build(args.source == "adapter"))
        cluster.start()
        if args.stack:
            cluster.kubectl("apply", "-f", str(REPO / "crds"))
            cluster.kubectl("apply", "-f", str(REPO / "knative" / "rbac.yaml"))
            cluster.kubectl(
                "wait", "--for=condition=Established", "crd/qiskitjobs.quantum.io", "--timeout=60s"
            )
            (workdir / "stack").mkdir(exist_ok=True)
            stack = Stack(cluster, workdir / "stack", source_kind=args.source).start()
    except (ClusterError, RuntimeError) as error:
        raise UserError(str(error)) from error
    print(f"kube-apiserver: {cluster.server}\nexport KUBECONFIG={cluster.kubeconfig}", flush=True)
    if stack is not None:
        print(
            "the functions, a Broker and the event source are running; try:\n"
            "  kubectl apply -f examples/bell.yaml && kubectl get qjob -w",
            flush=True,
        )
    else:
        print("try: kubectl apply -f crds/ -f knative/rbac.yaml", flush=True)
    print(f"logs in {workdir}; Ctrl-C stops it all.", flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if stack is not None:
            stack.stop()
        cluster.stop()
    return 0


def _dev_node(knative: bool) -> int:
    import signal

    from qiskit_operator.local.devcluster import ClusterError
    from qiskit_operator.local.knative.install import Knative
    from qiskit_operator.local.knative.release import Release
    from qiskit_operator.local.node.functions import deploy_functions
    from qiskit_operator.local.node.node import Node, NodeBinaries, missing_tools

    if missing := missing_tools():
        raise UserError(f"qop dev up --node needs: {', '.join(missing)}")
    node = Node(NodeBinaries.build())
    serving: Knative | None = None
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        if knative:
            serving = Knative(node, Release.build())
        node.start()
        if serving is not None:
            serving.install()
            serving.deploy_functions()
        else:
            deploy_functions(node)
        kubectl = " ".join(node.cluster.in_netns([str(node.cluster.binaries.kubectl)]))
        how = "as Knative Services" if serving is not None else "as pods"
        print(
            f"node ready; the functions run {how}. Inside its network namespace:\n"
            f"  {kubectl} --kubeconfig {node.cluster.kubeconfig} apply -f examples/bell.yaml\n"
            f"state and logs in {node.state.root}; Ctrl-C stops it all and cleans up.",
            flush=True,
        )
        stopping.wait()
    except KeyboardInterrupt:
        pass
    except (ClusterError, RuntimeError) as error:
        raise UserError(str(error)) from error
    finally:
        if serving is not None:
            serving.quiesce()
        problems = node.stop()
        node.remove()
        for problem in problems:
            print(f"left behind: {problem}", file=sys.stderr)
    return 0


def _crds(args: argparse.Namespace, settings: Settings) -> int:
    from qiskit_operator.crds import write_crds

    for path in write_crds(args.dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
