"""deploy/ without a container engine: the compose file against the Compose Specification's
schema, the manifests against Kubernetes' schemas, the systemd units through systemd itself,
and every command they run against the installed package (it exists and takes those options),
naming only real queues, in one of jobplatform/topology.py's worker groups."""

from __future__ import annotations

import configparser
import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from jobplatform.queues import QUEUE_NAMES, queue_for_task
from jobplatform.topology import WORKER_GROUPS, WorkerGroup
from tests.support import ROOT

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
KUBERNETES_VERSION = "1.35"
BIN = Path(sys.executable).parent
IMAGE = "jobplatform"
# Where the image (Dockerfile) and the systemd install (jobplatform.target) put Flower's config.
FLOWER_CONFIG_PATHS = {"/app/deploy/flowerconfig.py", "/etc/jobplatform/flowerconfig.py"}


@dataclass(frozen=True)
class Command:
    """One process a deploy file runs: where it is said, and its argv (program name first)."""

    where: str
    argv: tuple[str, ...]

    @property
    def celery_sub(self) -> str | None:
        if self.argv[:3] == ("celery", "-A", "jobplatform"):
            return self.argv[3]
        return None


@cache
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@cache
def manifests() -> list[tuple[str, dict]]:
    """(file name, resource) of every Kubernetes manifest kustomization.yaml applies."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [
        (name, doc)
        for name in kustomization["resources"]
        for doc in yaml.safe_load_all((K8S / name).read_text())
        if doc
    ]


def units() -> dict[str, configparser.ConfigParser]:
    parsed = {}
    for path in sorted(SYSTEMD.glob("*.service")) + sorted(SYSTEMD.glob("*.target")):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # systemd's keys are case-sensitive
        parser.read_string(path.read_text())
        parsed[path.name] = parser
    return parsed


def compose_commands() -> list[Command]:
    return [
        Command(f"compose.yaml: {name}", tuple(service["command"]))
        for name, service in compose()["services"].items()
        if service.get("image") == IMAGE
    ]


def k8s_commands() -> list[Command]:
    commands = []
    for name, doc in manifests():
        for container in _pod_spec(doc).get("containers", []):
            if container["image"].split(":")[0] == IMAGE:
                commands.append(
                    Command(f"k8s/{name}: {doc['metadata']['name']}", tuple(container["command"]))
                )
    return commands


def systemd_commands() -> list[Command]:
    commands = []
    for name, unit in units().items():
        if unit.has_option("Service", "ExecStart"):
            # systemd writes a literal % as %%.
            argv = shlex.split(unit["Service"]["ExecStart"].replace("%%", "%"))
            assert argv[0].startswith("/opt/jobplatform/bin/"), (name, argv[0])
            commands.append(Command(f"systemd/{name}", (Path(argv[0]).name, *argv[1:])))
    return commands


def dockerfile_command() -> Command:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    [cmd] = re.findall(r"^CMD (\[.*\])$", text, flags=re.M)
    return Command("Dockerfile: CMD", tuple(json.loads(cmd)))


def all_commands() -> list[Command]:
    return [*compose_commands(), *k8s_commands(), *systemd_commands(), dockerfile_command()]


def _pod_spec(doc: dict) -> dict:
    if doc["kind"] == "Deployment":
        return doc["spec"]["template"]["spec"]
    if doc["kind"] == "Job":
        return doc["spec"]["template"]["spec"]
    return {}


def _option(argv: tuple[str, ...], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def worker_group(command: Command) -> WorkerGroup:
    """The group of topology.py whose worker arguments this command has, in order."""
    args = list(command.argv[4:])
    for group in WORKER_GROUPS:
        expected = group.celery_args()
        if any(args[i : i + len(expected)] == expected for i in range(len(args))):
            return group
    raise AssertionError(
        f"{command.where}: {shlex.join(command.argv)} is none of "
        f"topology.py's groups: {[g.celery_args() for g in WORKER_GROUPS]}"
    )


# -- the files against their schemas ------------------------------------------------------


def compose_errors(document: dict) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    # The schema names draft-07 by a URL jsonschema does not know it by (https, no '#').
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(document)
    ]


def test_the_compose_file_follows_the_compose_specification():
    assert compose_errors(compose()) == []
    # The schema can refuse: a misplaced key and a wrong type are caught.
    broken = copy.deepcopy(compose())
    broken["services"]["beat"]["replicas"] = 1
    broken["services"]["redis"]["command"] = 42
    assert len(compose_errors(broken)) == 2


def test_the_manifests_follow_the_kubernetes_schemas():
    for _, doc in manifests():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    example = list(yaml.safe_load_all((K8S / "secret.example.yaml").read_text()))
    for doc in example:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    typo = copy.deepcopy(dict(manifests())["beat.yaml"])
    typo["spec"]["replica"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_every_manifest():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert sorted(listed) == sorted(on_disk)


def test_systemd_accepts_the_units():
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        message = "systemd-analyze is missing: `apt-get install systemd` to verify the units"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with_local_bin = Path(os.environ.get("TMPDIR", "/tmp")) / f"jobplatform-units-{os.getpid()}"
    shutil.rmtree(with_local_bin, ignore_errors=True)
    with_local_bin.mkdir()
    try:
        for path in SYSTEMD.iterdir():
            text = path.read_text().replace("/opt/jobplatform/bin/", f"{BIN}/")
            (with_local_bin / path.name).write_text(text)
        names = [
            p.name.replace("@.service", "@1.service")
            for p in sorted(with_local_bin.glob("*.service"))
        ]
        result = subprocess.run(
            [analyze, "verify", "--man=no", *(f"./{n}" for n in names), "./jobplatform.target"],
            cwd=with_local_bin,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        shutil.rmtree(with_local_bin, ignore_errors=True)
    # Unknown keys are only warnings to systemd; here they fail too.
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


# -- what they run ------------------------------------------------------------------------


def _help_argv(command: Command) -> list[str]:
    """The command as it is, asked for --help: it exits 0 only if the command exists and
    every option it names is one the command takes."""
    program, *args = command.argv
    if command.celery_sub == "flower":
        # Flower's own options are read by Flower, not the command line parser: checked apart.
        args = args[:3]
    return [str(BIN / program), *args, "--help"]


def _distinct_help_commands() -> dict[tuple[str, ...], Command]:
    commands: dict[tuple[str, ...], Command] = {}
    for command in all_commands():
        if command.argv[0] != "gunicorn":
            commands.setdefault(tuple(_help_argv(command)), command)
    return commands


@pytest.mark.parametrize(
    "command", list(_distinct_help_commands().values()), ids=lambda c: shlex.join(c.argv)
)
def test_every_command_exists_with_the_options_it_is_given(command, subprocess_env, tmp_path):
    assert command.argv[0] in ("jobplatform", "celery"), f"{command.where}: no command of ours"
    env = {**subprocess_env, "JOBPLATFORM_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run(
        _help_argv(command), env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, f"{command.where}:\n{result.stderr[-2000:]}"


def test_gunicorn_loads_the_app_with_the_options_it_is_given(subprocess_env, tmp_path):
    commands = {c.argv for c in all_commands() if c.argv[0] == "gunicorn"}
    assert commands
    for argv in commands:
        assert argv[-1] == "jobplatform:create_app()"
        result = subprocess.run(
            [str(BIN / "gunicorn"), "--check-config", *argv[1:]],
            env={**subprocess_env, "JOBPLATFORM_INSTANCE_PATH": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert result.returncode == 0, f"{shlex.join(argv)}:\n{result.stderr[-2000:]}"


def test_flower_is_started_with_the_config_and_its_own_options():
    import flower.options  # noqa: F401  (defines Flower's options)
    from tornado.options import options

    runs = [c for c in all_commands() if c.celery_sub == "flower"]
    assert {c.where.split(":")[0].split("/")[0] for c in runs} == {"compose.yaml", "k8s", "systemd"}
    for command in runs:
        flags = dict(a.lstrip("-").split("=", 1) for a in command.argv[4:])
        assert set(flags) <= set(options), f"{command.where}: unknown Flower options"
        assert flags["conf"] in FLOWER_CONFIG_PATHS, command.where
        # Credentials come from the environment through flowerconfig.py, never a command line.
        assert not set(flags) & {"basic_auth", "basic-auth"}, command.where
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/flowerconfig.py ./deploy/flowerconfig.py" in dockerfile
    assert "WORKDIR /app\n" in dockerfile


def test_every_worker_is_a_topology_group_on_real_queues():
    workers = [c for c in all_commands() if c.celery_sub == "worker"]
    assert workers
    for command in workers:
        queues = _option(command.argv, "-Q").split(",")
        assert set(queues) <= set(QUEUE_NAMES), f"{command.where}: unknown queue in {queues}"
        group = worker_group(command)
        assert tuple(queues) == group.queues
        if group.pool == "threads":
            # One job per thread: a long sync never holds another back.
            assert _option(command.argv, "--prefetch-multiplier") == "1", command.where
    # In each way to deploy, every queue has its workers: each group runs once.
    for prefix in ("compose.yaml", "k8s/", "systemd/"):
        groups = [worker_group(c).name for c in workers if c.where.startswith(prefix)]
        assert sorted(groups) == sorted(g.name for g in WORKER_GROUPS), prefix


def test_the_migration_runs_before_the_platform():
    services = compose()["services"]
    assert services["migrate"]["command"] == ["jobplatform", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        if service.get("image") == IMAGE and name != "migrate":
            assert service["depends_on"]["migrate"] == {
                "condition": "service_completed_successfully"
            }, name
    jobs = [doc for _, doc in manifests() if doc["kind"] == "Job"]
    assert [_pod_spec(j)["containers"][0]["command"] for j in jobs] == [
        ["jobplatform", "db", "upgrade"]
    ]
    parsed = units()
    assert parsed["jobplatform-migrate.service"]["Service"]["Type"] == "oneshot"
    for name in (
        "jobplatform-web.service",
        "jobplatform-applier@.service",
        "jobplatform-worker-sync.service",
        "jobplatform-worker-general.service",
        "jobplatform-beat.service",
    ):
        assert "jobplatform-migrate.service" in parsed[name]["Unit"]["Requires"], name
        assert "jobplatform-migrate.service" in parsed[name]["Unit"]["After"], name


# -- how many of each ---------------------------------------------------------------------


def _compose_replicas(service: dict) -> int:
    return service.get("deploy", {}).get("replicas", 1)


def _runs(argv: list[str] | tuple[str, ...], what: str) -> bool:
    argv = tuple(argv)
    return (what == "beat" and argv[:4] == ("celery", "-A", "jobplatform", "beat")) or (
        what == "applier" and argv[:2] == ("jobplatform", "applier")
    )


def test_exactly_one_beat_and_two_appliers():
    services = compose()["services"]
    for what, count in (("beat", 1), ("applier", 2)):
        running = [s for s in services.values() if _runs(s.get("command", ()), what)]
        assert [_compose_replicas(s) for s in running] == [count], f"compose: {what}"

        deployments = [
            doc
            for _, doc in manifests()
            if doc["kind"] == "Deployment"
            and _runs(_pod_spec(doc)["containers"][0]["command"], what)
        ]
        assert [d["spec"]["replicas"] for d in deployments] == [count], f"k8s: {what}"

    [beat] = [
        doc
        for _, doc in manifests()
        if doc["kind"] == "Deployment" and _runs(_pod_spec(doc)["containers"][0]["command"], "beat")
    ]
    # Never two beats, even for a moment of a rollout, and nothing scales it.
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    scaled = {
        doc["spec"]["scaleTargetRef"]["name"]
        for _, doc in manifests()
        if doc["kind"] == "HorizontalPodAutoscaler"
    }
    assert beat["metadata"]["name"] not in scaled

    beat_units = [c for c in systemd_commands() if c.celery_sub == "beat"]
    assert [c.where for c in beat_units] == ["systemd/jobplatform-beat.service"]
    wanted = units()["jobplatform.target"]["Unit"]["Wants"].split()
    assert Counter(w.split("@")[0] for w in wanted if w.startswith("jobplatform-applier@")) == {
        "jobplatform-applier": 2
    }
    assert [c.where for c in systemd_commands() if c.argv[:2] == ("jobplatform", "applier")] == [
        "systemd/jobplatform-applier@.service"
    ]
    every_unit = {n for n in units() if n != "jobplatform.target"}
    assert {w.replace("@1.", "@.").replace("@2.", "@.") for w in wanted} == every_unit


def test_each_worker_deployment_scales_on_queue_length_or_cpu():
    autoscalers = {
        doc["spec"]["scaleTargetRef"]["name"]: doc
        for _, doc in manifests()
        if doc["kind"] == "HorizontalPodAutoscaler"
    }
    workers = [
        doc
        for _, doc in manifests()
        if doc["kind"] == "Deployment"
        and _pod_spec(doc)["containers"][0]["command"][3:4] == ["worker"]
    ]
    assert len(workers) == len(WORKER_GROUPS)
    for deployment in workers:
        name = deployment["metadata"]["name"]
        hpa = autoscalers[name]["spec"]
        assert hpa["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["minReplicas"] >= 1
        assert hpa["maxReplicas"] > hpa["minReplicas"]
        # The autoscaler owns the count; a replicas here would undo it at every apply.
        assert "replicas" not in deployment["spec"], name
        for metric in hpa["metrics"]:
            if metric["type"] == "Resource":
                assert metric["resource"]["name"] == "cpu"
            else:
                # The pending jobs of this deployment's own queues, from the web's /metrics.
                assert metric["type"] == "External"
                selector = metric["external"]["metric"]["selector"]
                assert metric["external"]["metric"]["name"] == "jobplatform_jobs"
                assert selector["matchLabels"] == {"status": "pending"}
                [queues] = [
                    e["values"] for e in selector["matchExpressions"] if e["key"] == "queue"
                ]
                command = Command(name, tuple(_pod_spec(deployment)["containers"][0]["command"]))
                assert tuple(queues) == worker_group(command).queues


# -- health and persistence ---------------------------------------------------------------


def test_web_probes_ask_healthz():
    [web] = [
        doc
        for _, doc in manifests()
        if doc["kind"] == "Deployment"
        and _pod_spec(doc)["containers"][0]["command"][0] == "gunicorn"
    ]
    container = _pod_spec(web)["containers"][0]
    [port] = container["ports"]
    for probe in ("startupProbe", "readinessProbe"):
        check = container[probe]["httpGet"]
        assert check["path"] == "/healthz"
        assert check["port"] in (port["containerPort"], port["name"])
    assert _option(tuple(container["command"]), "--bind") == f"0.0.0.0:{port['containerPort']}"
    [service] = [
        doc
        for _, doc in manifests()
        if doc["kind"] == "Service" and doc["metadata"]["name"] == web["metadata"]["name"]
    ]
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] in (port["containerPort"], port["name"])

    compose_web = compose()["services"]["web"]
    assert "http://127.0.0.1:8000/healthz" in " ".join(compose_web["healthcheck"]["test"])


def test_redis_appends_every_write_to_disk():
    redis_service = compose()["services"]["redis"]
    command = redis_service["command"]
    assert command[0] == "redis-server"
    assert _option(tuple(command), "--appendonly") == "yes"
    assert any(v.endswith(":/data") for v in redis_service["volumes"])


def test_flower_is_behind_auth_and_keeps_its_history():
    services = compose()["services"]
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"].startswith(
        "${FLOWER_BASIC_AUTH:?"
    )
    assert any(v.endswith(":/var/lib/jobplatform") for v in services["flower"]["volumes"])
    [flower] = [
        doc
        for _, doc in manifests()
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "jobplatform-flower"
    ]
    assert flower["spec"]["replicas"] == 1
    container = _pod_spec(flower)["containers"][0]
    [auth] = [e for e in container["env"] if e["name"] == "FLOWER_BASIC_AUTH"]
    assert "secretKeyRef" in auth["valueFrom"]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/var/lib/jobplatform"]
    flower_unit = units()["jobplatform-flower.service"]["Service"]
    assert "/etc/jobplatform/flower.env" in flower_unit["EnvironmentFile"]


def test_the_readme_asks_for_redis_with_an_append_only_file_where_it_is_not_configured():
    readme = " ".join((DEPLOY / "README.md").read_text().split())
    assert "`appendonly yes`" in readme
    assert "docs/architecture.md" in readme


# -- the job files the web and the general workers share ---------------------------------

# The tasks that use job files in the instance folder: an import reads the CSV the web stored
# in imports/, an export writes exports/<id>.csv for the web to serve, pruning deletes those.
FILE_TASKS = (
    "jobplatform.general.contacts_import",
    "jobplatform.general.contacts_export",
    "jobplatform.general.prune_jobs",
)


@dataclass(frozen=True)
class Mount:
    """What a process has at its instance folder: `volume` names what is mounted there (None:
    nothing, the container's own folder), `path` is that folder."""

    path: str
    volume: str | None
    writable: bool


def _uses_job_files(command: Command) -> bool:
    """The web (stores imports, serves exports) and the workers of the file tasks' queues."""
    if command.argv[0] == "gunicorn":
        return True
    if command.celery_sub == "worker":
        queues = set(_option(command.argv, "-Q").split(","))
        return bool(queues & {queue_for_task(name) for name in FILE_TASKS})
    return False


def _image_env() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return dict(
        word.split("=", 1)
        for line in re.findall(r"^ENV (.*)$", text, flags=re.M)
        for word in shlex.split(line)
    )


def compose_instance_mounts(document: dict) -> dict[str, Mount]:
    """For each service that uses job files: what it has at its JOBPLATFORM_INSTANCE_PATH."""
    mounts = {}
    for name, service in document["services"].items():
        command = Command(f"compose.yaml: {name}", tuple(service.get("command", ())))
        if service.get("image") != IMAGE or not _uses_job_files(command):
            continue
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(e.split("=", 1) for e in environment)
        path = {**_image_env(), **environment}["JOBPLATFORM_INSTANCE_PATH"]
        mounts[name] = Mount(path, None, True)
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                parts = volume.split(":")  # [source:]target[:mode]
                source, target = (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])
                kind = "bind" if source and source.startswith(("/", ".", "~")) else "volume"
                read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            else:
                source, target = volume.get("source"), volume["target"]
                kind, read_only = volume["type"], volume.get("read_only", False)
            if target.rstrip("/") != path.rstrip("/"):
                continue
            # An anonymous volume is the container's own.
            if kind == "volume" and source:
                assert source in (document.get("volumes") or {}), f"{name}: no volume {source}"
            shared = f"{kind}:{source}" if source else None
            mounts[name] = Mount(path, shared, not read_only)
    return mounts


def k8s_instance_mounts(docs: list[tuple[str, dict]]) -> dict[str, Mount]:
    """For each Deployment's container that uses job files: what it has at its
    JOBPLATFORM_INSTANCE_PATH. Only a PersistentVolumeClaim is one volume for every pod."""
    config_maps = {d["metadata"]["name"]: d["data"] for _, d in docs if d["kind"] == "ConfigMap"}
    mounts = {}
    for _, doc in docs:
        if doc["kind"] != "Deployment":
            continue
        pod = _pod_spec(doc)
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            name = doc["metadata"]["name"]
            if not _uses_job_files(Command(name, tuple(container["command"]))):
                continue
            env = _image_env()
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    env.update(config_maps[source["configMapRef"]["name"]])
            env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
            path = env["JOBPLATFORM_INSTANCE_PATH"]
            mounts[name] = Mount(path, None, True)
            for mount in container.get("volumeMounts", []):
                if mount["mountPath"].rstrip("/") != path.rstrip("/"):
                    continue
                volume = volumes[mount["name"]]
                claim = volume.get("persistentVolumeClaim")
                shared = None
                if claim:
                    shared = f"persistentVolumeClaim:{claim['claimName']}"
                    if mount.get("subPath"):
                        shared += f":{mount['subPath']}"
                writable = not mount.get("readOnly") and not (claim or {}).get("readOnly")
                mounts[name] = Mount(path, shared, writable)
    return mounts


def test_the_web_and_the_general_workers_share_the_instance_folder():
    """An uploaded CSV is stored by the web in <instance>/imports/ and read by a general
    worker, which writes <instance>/exports/<id>.csv for the web to serve
    (GET /api/v2/jobs/<id>/file): both mount one volume, read-write, at the path their
    JOBPLATFORM_INSTANCE_PATH names."""
    from jobplatform import celery

    celery.loader.import_default_modules()
    assert set(FILE_TASKS) <= set(celery.tasks)
    assert {queue_for_task(name) for name in FILE_TASKS} == {"general"}

    in_compose = compose_instance_mounts(compose())
    assert set(in_compose) == {"web", "worker-general"}
    [volume] = {m.volume for m in in_compose.values()}
    assert volume is not None, in_compose
    assert volume.startswith("volume:"), in_compose
    assert all(m.writable and m.path == "/var/lib/jobplatform" for m in in_compose.values())

    in_k8s = k8s_instance_mounts(manifests())
    assert set(in_k8s) == {"jobplatform-web", "jobplatform-worker-general"}
    [volume] = {m.volume for m in in_k8s.values()}
    assert volume is not None, in_k8s
    assert all(m.writable and m.path == "/var/lib/jobplatform" for m in in_k8s.values())
    # Web and worker pods run on any node, several of each: every node mounts it read-write.
    [claim] = [
        doc
        for _, doc in manifests()
        if doc["kind"] == "PersistentVolumeClaim"
        and doc["metadata"]["name"] == volume.split(":")[1]
    ]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    readme = " ".join((DEPLOY / "README.md").read_text().split())
    assert "ReadWriteMany" in readme

    # systemd: one machine's folder, which both units are told of by the same file.
    parsed = units()
    for unit in ("jobplatform-web.service", "jobplatform-worker-general.service"):
        assert parsed[unit]["Service"]["EnvironmentFile"] == "/etc/jobplatform/jobplatform.env"
    env_file = (SYSTEMD / "jobplatform.env").read_text()
    assert "\nJOBPLATFORM_INSTANCE_PATH=/var/lib/jobplatform\n" in env_file

    # The check sees a worker with a folder of its own.
    alone = copy.deepcopy(compose())
    del alone["services"]["worker-general"]["volumes"]
    assert compose_instance_mounts(alone)["worker-general"].volume is None
    alone = copy.deepcopy(manifests())
    for _, doc in alone:
        if doc["metadata"]["name"] == "jobplatform-worker-general" and doc["kind"] == "Deployment":
            _pod_spec(doc)["volumes"][0] = {"name": "files", "emptyDir": {}}
    assert k8s_instance_mounts(alone)["jobplatform-worker-general"].volume is None


@pytest.mark.parametrize(
    ("environment", "broker_api"),
    [
        ({"JOBPLATFORM_BROKER_URL": "amqp://u:p@rabbit:5672//"}, "http://u:p@rabbit:15672/api/"),
        (
            {"JOBPLATFORM_BROKER_URL": "amqps://ops%40x:p%2Fw@rabbit.example.com:5671/jobs"},
            "https://ops%40x:p%2Fw@rabbit.example.com:15671/api/",
        ),
        (
            {
                "JOBPLATFORM_BROKER_URL": "amqp://u:p@rabbit:5672//",
                "JOBPLATFORM_FLOWER_BROKER_API": "http://admin:pw@mgmt.internal:8080/api/",
            },
            "http://admin:pw@mgmt.internal:8080/api/",
        ),
        ({"JOBPLATFORM_BROKER_URL": "redis://redis:6379/0"}, None),
    ],
    ids=["amqp", "amqps", "setting-wins", "redis"],
)
def test_flower_reads_the_broker_api_from_the_platform_settings(
    environment, broker_api, monkeypatch, tmp_path
):
    import runpy

    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:a-pass")
    monkeypatch.setenv("JOBPLATFORM_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("JOBPLATFORM_FLOWER_BROKER_API", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    config = runpy.run_path(str(DEPLOY / "flowerconfig.py"))
    assert config.get("broker_api") == broker_api


def test_the_management_url_of_a_broker_url():
    from jobplatform.config import rabbitmq_management_url

    assert rabbitmq_management_url("pyamqp://rabbit") == "http://guest:guest@rabbit:15672/api/"
    assert rabbitmq_management_url("amqp://") == "http://guest:guest@localhost:15672/api/"
    assert rabbitmq_management_url("amqp://u:p@[fd00::1]:5672//") == (
        "http://u:p@[fd00::1]:15672/api/"
    )
    assert rabbitmq_management_url("amqp://u:p@a:5672//;amqp://u:p@b:5672//") == (
        "http://u:p@a:15672/api/"
    )
    assert rabbitmq_management_url("rediss://redis:6380/0") is None
