"""Celery app and the trivial task of the jobs benchmark (bench/jobs_celery.py).

Broker: Redis db 0; result backend: the same Redis, db 1, so that its key count is the number
of finished tasks. The workers started by jobs_celery.py import this module with
JOBS_CELERY_REDIS_PORT set; the producer calls make_app(port) itself."""
import os

from celery import Celery


def make_app(port):
    app = Celery("jobs_celery_tasks", broker="redis://127.0.0.1:%d/0" % port,
                 backend="redis://127.0.0.1:%d/1" % port, set_as_current=False)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])

    @app.task(name="noop")
    def noop(payload):
        return payload

    return app


if "JOBS_CELERY_REDIS_PORT" in os.environ:
    app = make_app(int(os.environ["JOBS_CELERY_REDIS_PORT"]))
