"""A real Celery worker process, on the broker the settings choose (embedded or Redis)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery.result import allow_join_result
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection

from config.celery import app as celery_app
from provenance.models import DatasetVersion
from provenance.services import add_file, create_dataset
from provenance.tasks import ingest_version_task

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def forget_connections():
    """Drop the producer pool and result backend built from earlier settings.

    Celery acquires a producer even for eager calls, so tests that ran before built a pool
    with the embedded broker's default folders; without this the worker's message would go
    there. Only dropped, never closed: kombu shares pools by broker settings, and with Redis
    the same (still needed) pool would come back closed.
    """
    if celery_app.conf.broker_url == "filesystem://":
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
    celery_app.__dict__.pop("backend", None)
    celery_app._local.__dict__.pop("backend", None)


@pytest.fixture
def worker(tmp_path, settings):
    fs_dir = tmp_path / "celery"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": settings.MEDIA_ROOT,
        "CELERY_FS_DIR": str(fs_dir),
    }
    env.pop("CI", None)
    previous = {
        "task_always_eager": celery_app.conf.task_always_eager,
        "broker_transport_options": celery_app.conf.broker_transport_options,
        "result_backend": celery_app.conf.result_backend,
    }
    if celery_app.conf.broker_url == "filesystem://":
        for folder in ("queue", "processed", "control", "results"):
            (fs_dir / folder).mkdir(parents=True)
        celery_app.conf.broker_transport_options = {
            "data_folder_in": str(fs_dir / "queue"),
            "data_folder_out": str(fs_dir / "queue"),
            "processed_folder": str(fs_dir / "processed"),
            "control_folder": str(fs_dir / "control"),
            "store_processed": False,
        }
        celery_app.conf.result_backend = f"file://{fs_dir / 'results'}"
    celery_app.conf.task_always_eager = False
    forget_connections()
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "default,ingest,reports",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Celery marks "inside a task, never wait on a result" in one process-wide flag while
        # an eager task runs, and threads running eager tasks at once (the race tests) can
        # leave it set. This process is no worker: it may wait on the real worker's results.
        with allow_join_result():
            yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        celery_app.conf.update(previous)
        # The pool and the result backend cache their connections: forget them so later
        # tests use the restored settings.
        forget_connections()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_ingests_a_version_taken_from_the_queue(cast, worker, tmp_path):
    dataset = create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Queued", modality="text"
    )
    version = dataset.versions.get()
    add_file(
        actor=cast.creator,
        version=version,
        path="a.jsonl",
        content=ContentFile(b'{"a": 1}\n{"a": 2}\n'),
    )
    result = ingest_version_task.delay(version_id=version.pk)
    try:
        root = result.get(timeout=90)
    except Exception:
        print((tmp_path / "worker.log").read_text())
        raise
    version = DatasetVersion.objects.get(pk=version.pk)
    assert version.merkle_root == root and len(root) == 64
    assert version.total_records == 2
    assert settings.CELERY_TASK_ACKS_LATE
