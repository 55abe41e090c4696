"""The Helm chart (``infra/helm/callscribe``), rendered by the real helm (``infra/helm/
tools.sh``) and checked for what a cluster would only show too late: a grace period that
kills running jobs, a setting name callscribe does not have, a secret written into a
manifest, a KEDA query that does not count what the workers run (run here against the real
schema on PostgreSQL), GPU, probes, images, hooks and the network policy."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import insert, text

from callscribe.models import Job, JobStatus, Recording, RecordingStatus, Source, SourceKind
from callscribe.models.db import open_database
from callscribe.settings import SettingError, Settings, check_environment

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "infra" / "helm" / "callscribe"
HELM = ROOT / ".tools" / "helm"
VALUES = sorted((ROOT / "infra" / "helm" / "ci").glob("*.yaml"))
MINIMAL = ROOT / "infra" / "helm" / "ci" / "minimal.yaml"  # only the Secret's name


@pytest.fixture(scope="session")
def helm() -> Path:
    subprocess.run(["bash", str(ROOT / "infra" / "helm" / "tools.sh")], check=True)
    return HELM


def render(helm: Path, values: Path | None = None, *sets: str) -> list[dict[str, Any]]:
    command = [str(helm), "template", "t", str(CHART), "--kube-version", "1.33.0"]
    command += ["-f", str(values or MINIMAL)]
    for item in sets:
        command += ["--set", item]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def refused(helm: Path, *sets: str) -> str:
    command = [str(helm), "template", "t", str(CHART), "-f", str(MINIMAL)]
    for item in sets:
        command += ["--set", item]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode != 0, "rendered what it should refuse"
    return done.stderr


def one(docs: list[dict[str, Any]], kind: str, component: str) -> dict[str, Any]:
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, (kind, component, [d["metadata"]["name"] for d in docs])
    return found[0]


def containers(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        yield from spec.get("containers", [])


@pytest.fixture(scope="module", params=[v.stem for v in VALUES])
def docs(request: pytest.FixtureRequest, helm: Path) -> list[dict[str, Any]]:
    return render(helm, ROOT / "infra" / "helm" / "ci" / f"{request.param}.yaml")


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_no_container_sets_a_variable_twice(docs: list[dict[str, Any]], helm: Path) -> None:
    """Kubernetes keeps the last of two variables of one name: a user's ``config`` entry
    could override the soft time limit the grace period was checked against, so the chart
    refuses one that names a variable it sets itself."""
    for container in containers(docs):
        names = [e["name"] for e in container.get("env", [])]
        assert len(names) == len(set(names)), (container["name"], names)
    stderr = refused(helm, "config.CALLSCRIBE_JOBS__SOFT_TIME_LIMIT_S=99999")
    assert "config.CALLSCRIBE_JOBS__SOFT_TIME_LIMIT_S is set by the chart" in stderr
    # the chart's list of its own variables holds every one it renders
    rendered = render(helm, ROOT / "infra" / "helm" / "ci" / "everything.yaml")
    user = {  # config entries, the chart's defaults and the CI file's: the user's to set
        name
        for values in (CHART / "values.yaml", ROOT / "infra" / "helm" / "ci" / "everything.yaml")
        for name in yaml.safe_load(values.read_text())["config"]
    }
    own = {n for c in containers(rendered) for n in _env(c) if n.startswith("CALLSCRIBE_")} - user
    assert len(own) > 8
    for name in sorted(own):
        assert "set by the chart" in refused(helm, f"config.{name}=x"), name


def test_the_grace_period_outlasts_a_job(docs: list[dict[str, Any]]) -> None:
    """A scale-down or a drain waits for the running job: the worker's grace period is at
    least its soft time limit, and the hard limit and the broker's visibility timeout lie
    beyond it (a job is never redelivered while it may still run)."""
    worker = one(docs, "Deployment", "worker")
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    env = _env(worker["spec"]["template"]["spec"]["containers"][0])
    soft = int(env["CALLSCRIBE_JOBS__SOFT_TIME_LIMIT_S"]["value"])
    hard = int(env["CALLSCRIBE_QUEUE__TIME_LIMIT_S"]["value"])
    visibility = int(env["CALLSCRIBE_QUEUE__VISIBILITY_TIMEOUT_S"]["value"])
    assert grace >= soft + 60 and hard > soft and visibility > hard


def test_a_grace_period_shorter_than_a_job_is_refused(helm: Path) -> None:
    message = refused(helm, "worker.terminationGracePeriodSeconds=30")
    assert "must be at least worker.softTimeLimitSeconds + worker.drainSeconds (3360)" in message


def test_every_callscribe_variable_is_a_real_setting(
    docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each container's ``CALLSCRIBE_*`` variables pass callscribe's own check (each names
    a setting, or is one of the few the CLI reads itself), and with those values (secrets
    stood in for) the settings load: a typo in the chart or in a user's ``config`` fails
    here, not in a crash-looping pod."""
    seen = 0
    for container in containers(docs):
        env = {}
        for key, item in _env(container).items():
            if not key.startswith("CALLSCRIBE_"):
                continue
            value = item.get("value")
            if value is None:  # from a Secret: a stand-in of the right form
                value = "postgresql://u:p@db/x" if "DATABASE" in key else "redis://r:6379/0"
                value = "stand-in" if "STORAGE" in key or "PASSWORD" in key else value
                value = "k" * 40 if key.endswith("WEB__SECRET_KEY") else value
            env[key] = value
        check_environment(env)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        Settings()
        for key in env:
            monkeypatch.delenv(key)
        seen += len(env)
    assert seen > 10
    with pytest.raises(SettingError, match="CALLSCRIBE_MODEL__NAME"):
        check_environment({"CALLSCRIBE_MODEL": "large-v3"})  # the check does refuse


def test_secrets_come_only_from_a_secret(docs: list[dict[str, Any]]) -> None:
    """URLs with credentials, passwords and keys are references to the named Secret, never
    literal values; and the chart renders nothing without the Secret's name."""
    for container in containers(docs):
        for name, item in _env(container).items():
            secretish = any(w in name for w in ("URL", "PASSWORD", "SECRET", "KEY", "CONNECTION"))
            if secretish and name != "CALLSCRIBE_STORAGE__S3_ENDPOINT_URL":
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                assert ref and ref["name"] == "callscribe", (container["name"], name, item)
            assert "@" not in str(item.get("value", "")), (name, item)
    assert not [d for d in docs if d["kind"] == "Secret"]


def test_nothing_renders_without_the_secret(helm: Path) -> None:
    command = [str(helm), "template", "t", str(CHART)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode != 0 and "secrets.existingSecret" in done.stderr


def test_keda_counts_the_jobs_the_workers_run(helm: Path, pg_url: str) -> None:
    """The ScaledObject's query, run on the real schema in PostgreSQL with jobs in every
    state: queued and running jobs count (a running job has left Redis' list, which is why
    the list is not the measure), done, failed and cancelled ones do not, divided by the
    jobs one pod runs at once and rounded up; KEDA reads the connection from the worker's
    own environment, from the Secret."""
    docs = render(helm, MINIMAL)
    scaled = one(docs, "ScaledObject", "worker")
    worker = one(docs, "Deployment", "worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    assert scaled["spec"]["minReplicaCount"] == 0 and "replicas" not in worker["spec"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "postgresql" and trigger["metadata"]["targetQueryValue"] == "1"
    env = _env(worker["spec"]["template"]["spec"]["containers"][0])
    assert env[trigger["metadata"]["connectionFromEnv"]]["valueFrom"]["secretKeyRef"]
    per_pod = int(env["CALLSCRIBE_EXECUTION__JOBS_IN_FLIGHT"]["value"])
    factory = open_database(Settings(database_url=pg_url))
    query = text(trigger["metadata"]["query"])
    with factory.begin() as session:
        assert session.execute(query).scalar() == 0
    counts = {JobStatus.QUEUED: 5, JobStatus.RUNNING: 6, JobStatus.DONE: 7, JobStatus.FAILED: 2,
              JobStatus.CANCELLED: 1}  # fmt: skip
    _add_jobs(factory, counts)
    with factory.begin() as session:
        got = session.execute(query).scalar()
    assert got == math.ceil((5 + 6) / per_pod)


def _add_jobs(factory: Any, counts: dict[JobStatus, int]) -> None:
    with factory.begin() as session:
        source = Source(uri="file:///calls", kind=SourceKind.LOCAL)
        session.add(source)
        session.flush()
        recordings = [
            Recording(source_id=source.id, key=f"r{i}.wav", uri=f"file:///calls/r{i}.wav",
                      status=RecordingStatus.QUEUED, duration_s=30.0)
            for i in range(len(counts))
        ]  # fmt: skip
        session.add_all(recordings)
        session.flush()
        session.execute(
            insert(Job),
            [
                {"recording_id": rec.id, "seq": seq, "start_s": 0.0, "end_s": 30.0,
                 "status": status}
                for rec, (status, n) in zip(recordings, counts.items(), strict=True)
                for seq in range(n)
            ],
        )  # fmt: skip


def test_a_cpu_worker_holds_no_gpu_and_a_gpu_worker_needs_one(helm: Path) -> None:
    no_gpu = "worker.resources.limits.nvidia\\.com/gpu=null"
    docs = render(helm, None, "worker.device=cpu", no_gpu, "image.tag=0.1.0-cpu")
    (container,) = one(docs, "Deployment", "worker")["spec"]["template"]["spec"]["containers"]
    assert container["args"][:3] == ["worker", "--device", "cpu"]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert container["image"].endswith(":0.1.0-cpu")
    assert "would hold a GPU it never uses" in refused(helm, "worker.device=cpu")
    assert "needs a GPU" in refused(helm, no_gpu)
    assert "must be cuda or cpu" in refused(helm, "worker.device=tpu")


def test_flower_needs_a_login_and_reaches_only_redis(helm: Path) -> None:
    docs = render(helm, ROOT / "infra" / "helm" / "ci" / "everything.yaml")
    flower = one(docs, "Deployment", "flower")
    (container,) = flower["spec"]["template"]["spec"]["containers"]
    auth = _env(container)["FLOWER_BASIC_AUTH"]["valueFrom"]["secretKeyRef"]
    assert auth == {"name": "callscribe", "key": "flower-basic-auth"}
    assert container["resources"]["limits"]["memory"]
    assert one(docs, "Service", "flower")["spec"]["ports"][0]["port"] == 5555
    policy = one(docs, "NetworkPolicy", "flower")
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert ports == {53, 6379}
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 5555, "protocol": "TCP"}]
    assert "flower.image.tag must be a pinned version" in refused(
        helm, "flower.enabled=true", "flower.image.tag=latest"
    )
    assert "flowerBasicAuthKey" in refused(
        helm, "flower.enabled=true", "secrets.flowerBasicAuthKey="
    )


def test_one_gpu_per_worker_pod_on_gpu_nodes(docs: list[dict[str, Any]]) -> None:
    worker = one(docs, "Deployment", "worker")
    spec = worker["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["args"][:3] == ["worker", "--device", "cuda"]
    assert "--pool" in container["args"] and "command" not in container  # Celery is PID 1
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    assert container["readinessProbe"]["exec"]["command"] == ["callscribe", "worker", "--check"]
    alive = ["callscribe", "worker", "--alive"]  # the worker's own word, not PostgreSQL's
    assert container["livenessProbe"]["exec"]["command"] == alive
    assert container["startupProbe"]["exec"]["command"] == alive
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600  # models load first
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/models", "/tmp"}


def test_pods_run_pinned_images_as_non_root(docs: list[dict[str, Any]], helm: Path) -> None:
    for doc in docs:
        spec = doc.get("spec", {}).get("template", {}).get("spec")
        if spec is None:
            continue
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            tag = container["image"].rsplit(":", 1)[1]
            assert tag and tag != "latest"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "pinned version" in refused(helm, "image.tag=latest")


def test_migrations_run_first_and_the_scheduler_once(docs: list[dict[str, Any]]) -> None:
    jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
    job = jobs["t-callscribe-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]
    role = jobs.get("t-callscribe-dashboard-role")
    if role is not None:  # after the migrations, which make its group
        assert role["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
        (container,) = role["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["db", "dashboard-user", "grafana", "--transcripts"]
        password = _env(container)["CALLSCRIBE_DASHBOARD_PASSWORD"]["valueFrom"]
        assert password["secretKeyRef"]["key"] == "dashboard-password"
    scheduler = one(docs, "Deployment", "scheduler")
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"]["type"] == "Recreate"
    pdb = one(docs, "PodDisruptionBudget", "worker")
    assert pdb["spec"]["selector"] == one(docs, "Deployment", "worker")["spec"]["selector"]


def test_the_network_policy_allows_only_the_services(docs: list[dict[str, Any]]) -> None:
    (policy,) = [d for d in docs if d["kind"] == "NetworkPolicy" and "matchExpressions"
                 in d["spec"]["podSelector"]]  # fmt: skip
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert ports == {53, 5432, 6379, 443}
    assert policy["spec"]["ingress"] == [] and "Ingress" in policy["spec"]["policyTypes"]
    components = policy["spec"]["podSelector"]["matchExpressions"][1]["values"]
    assert set(components) == {"worker", "scheduler", "migrations"}


def test_the_keda_schema_refuses_what_keda_would_not_read(helm: Path) -> None:
    """The project's schema of the ScaledObject fields the chart uses (deploy-check runs it
    on every rendering): the chart's own passes; a misspelt field or a number where KEDA
    wants a string does not."""
    import json

    import jsonschema

    schema = json.loads((ROOT / "infra/helm/schemas/keda-scaledobject.json").read_text())
    scaled = one(render(helm), "ScaledObject", "worker")
    jsonschema.validate(scaled, schema)
    typo = json.loads(json.dumps(scaled))
    typo["spec"]["pollingIntervall"] = typo["spec"].pop("pollingInterval")
    number = json.loads(json.dumps(scaled))
    number["spec"]["triggers"][0]["metadata"]["targetQueryValue"] = 1
    for wrong in (typo, number):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


def test_the_web_app_reads_through_its_reviewer_login_only(helm: Path) -> None:
    """``web.enabled``: a Deployment and Service for ``callscribe web``, given the reviewer
    login's URL and the cookie key from the Secret, never the main database URL or the
    broker; secure cookies; probes on its login page; a NetworkPolicy that lets in its port
    and lets out PostgreSQL and S3 only (no Redis)."""
    docs = render(helm, None, "web.enabled=true")
    deployment = one(docs, "Deployment", "web")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = _env(container)
    assert container["args"][:1] == ["web"]
    assert (
        env["CALLSCRIBE_WEB__DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"]
        == "web-database-url"
    )
    assert env["CALLSCRIBE_WEB__SECRET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "web-secret-key"
    assert env["CALLSCRIBE_WEB__SECURE_COOKIES"]["value"] == "true"
    assert "CALLSCRIBE_DATABASE_URL" not in env and "CALLSCRIBE_BROKER_URL" not in env
    assert container["readinessProbe"]["httpGet"]["path"] == "/login"
    assert one(docs, "Service", "web")["spec"]["ports"][0]["targetPort"] == "http"
    (policy,) = [
        d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-web")
    ]
    egress = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress == {53, 5432, 443}
    assert [p["port"] for p in policy["spec"]["ingress"][0]["ports"]] == [8080]
    assert not [d for d in render(helm) if d["metadata"]["name"].endswith("-web")]  # off by default


def test_the_web_app_reaches_redis_only_for_its_shared_login_limiter(helm: Path) -> None:
    """``secrets.webLimiterUrlKey``: the replicas count failed logins together in the Redis
    of that URL (its own secret, not the broker's), and only then may they reach Redis."""
    docs = render(helm, None, "web.enabled=true", "secrets.webLimiterUrlKey=web-limiter-url")
    (container,) = one(docs, "Deployment", "web")["spec"]["template"]["spec"]["containers"]
    env = _env(container)
    assert env["CALLSCRIBE_WEB__LIMITER_URL"]["valueFrom"]["secretKeyRef"]["key"] == (
        "web-limiter-url"
    )
    assert "CALLSCRIBE_BROKER_URL" not in env
    (policy,) = [
        d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-web")
    ]
    egress = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress == {53, 5432, 443, 6379}
