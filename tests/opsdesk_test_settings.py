"""Settings for the test suite: the product's settings with a throwaway data directory, fast
password hashing and, when OPSDESK_TEST_DATABASE_URL is set, PostgreSQL."""

import os
import tempfile

os.environ.setdefault("OPSDESK_COMPRESS_STATIC", "0")  # also for the `opsdesk init` the tests run as processes
os.environ.setdefault("OPSDESK_DATA_DIR", tempfile.mkdtemp(prefix="opsdesk-test-"))
if os.environ.get("OPSDESK_TEST_DATABASE_URL"):
    os.environ["OPSDESK_DATABASE_URL"] = os.environ["OPSDESK_TEST_DATABASE_URL"]
else:
    os.environ.pop("OPSDESK_DATABASE_URL", None)
os.environ.pop("OPSDESK_BROKER_URL", None)  # unit tests never need a broker; integration tests start their own

from opsdesk.settings import *  # noqa: E402,F403
from opsdesk.settings import DATA_DIR, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so a real worker process started by the integration tests sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("OPSDESK_TEST_DATABASE_NAME", "test_opsdesk")}
    # A throwaway database: commits need not wait for the WAL to reach the disk (the migrations that build
    # it and the transactional tests' flushes commit thousands of times). Durability settings of a real
    # installation are the server's and are not changed.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "10000/min", "user": "10000/min"}}  # noqa: F405
ALLOWED_HOSTS = ["*"]
