import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_secret

ROOT = Path(__file__).resolve().parent.parent


def run_django(code: str, env: dict, tmp_path) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            (
                "DATABASE_URL",
                "REDIS_URL",
                "S3_",
                "WELLSPRING_",
                "SECRET_KEY",
                "PLATFORM_",
                "DEBUG",
                "ALLOWED_HOSTS",
                "CELERY_",
            )
        )
    }
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "WELLSPRING_VAR_DIR": str(tmp_path / "var"),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_development_defaults_need_no_services(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE']); print(s.CELERY_BROKER_URL); "
        "print(s.STORAGES['default']['BACKEND']); print(s.EMAIL_BACKEND); print(s.DEBUG); "
        "print(s.CACHES['default']['BACKEND'])"
    )
    result = run_django(code, {}, tmp_path)
    assert result.returncode == 0, result.stderr
    engine, broker, storage, email, debug, cache = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert broker == "filesystem://"
    assert storage == "django.core.files.storage.FileSystemStorage"
    assert email == "django.core.mail.backends.console.EmailBackend"
    assert debug == "True"
    assert cache == "django.core.cache.backends.locmem.LocMemCache"
    # The development secrets are generated once and kept under var/, readable by the owner only.
    secret = tmp_path / "var" / "secret_key"
    assert secret.exists() and len(secret.read_text()) >= 50
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "var" / "signing_key").exists()
    assert (tmp_path / "var" / "celery" / "queue").is_dir()


def test_generated_secret_key_is_stable_between_starts(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; print(s.SECRET_KEY)"
    )
    first = run_django(code, {}, tmp_path)
    second = run_django(code, {}, tmp_path)
    assert first.stdout == second.stdout and first.stdout.strip()


def test_redis_url_switches_broker_and_cache(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CELERY_BROKER_URL); print(s.CACHES['default']['BACKEND']); print(s.CELERY_RESULT_BACKEND)"
    )
    result = run_django(code, {"REDIS_URL": "redis://127.0.0.1:6379/9"}, tmp_path)
    assert result.returncode == 0, result.stderr
    broker, cache, backend = result.stdout.split()
    assert broker == "redis://127.0.0.1:6379/9"
    assert cache == "django.core.cache.backends.redis.RedisCache"
    assert backend == "redis://127.0.0.1:6379/9"


def test_s3_bucket_switches_storage_to_s3(tmp_path):
    code = "import django; django.setup(); from django.conf import settings as s; print(s.STORAGES['default'])"
    result = run_django(
        code,
        {"S3_BUCKET": "wellspring-files", "S3_ENDPOINT_URL": "http://127.0.0.1:9000"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "storages.backends.s3.S3Storage" in result.stdout
    assert "wellspring-files" in result.stdout


def test_production_refuses_to_start_without_its_secrets(tmp_path):
    result = run_django("import django; django.setup()", {"WELLSPRING_ENV": "production"}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when WELLSPRING_ENV=production" in result.stderr


def test_production_refuses_debug(tmp_path):
    env = {"WELLSPRING_ENV": "production", "DEBUG": "true"}
    result = run_django("import django; django.setup()", env, tmp_path)
    assert "DEBUG must be false" in result.stderr


def production_env() -> dict:
    return {
        "WELLSPRING_ENV": "production",
        "SECRET_KEY": "x7" * 30 + "-production-only-secret-key-for-the-check",
        "ALLOWED_HOSTS": "wellspring.example",
        "PLATFORM_SIGNING_KEY": "4rQqMzvZpYy8e6wS0o4bqkT0jQ2m9o8s2y7QfYlQy0E",
    }


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
            "WELLSPRING_VAR_DIR": str(tmp_path / "var"),
            **production_env(),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_env_bool_rejects_anything_but_true_or_false(monkeypatch):
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be true or false"):
        env_bool("FLAG", False)
    monkeypatch.setenv("FLAG", "False")
    assert env_bool("FLAG", True) is False


def test_env_helpers_parse_strictly(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBER", "12x")
    with pytest.raises(ImproperlyConfigured):
        env_int("NUMBER", 1)
    monkeypatch.setenv("HOSTS", "a.example, b.example,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("TOKEN_FILE", str(secret_file))
    assert env_secret("TOKEN") == "from-a-file"


def test_tests_use_the_configured_database_and_never_eager_outside_tests():
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
