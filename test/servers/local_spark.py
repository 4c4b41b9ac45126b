"""A local[2] Spark session for tests: loopback only, its Python workers this
interpreter with `pythonpath`, its files under `base`; stopped on leaving.
`conf` adds settings (or replaces these), e.g. spark.jars.packages.

    with local_spark(tmp_path, pythonpath, "flowsql-test") as spark: ...
"""
import contextlib
import os
import sys


@contextlib.contextmanager
def local_spark(base, pythonpath, app, conf=None):
    from pyspark.sql import SparkSession
    java_tmp = base / "tmp"
    java_tmp.mkdir(exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("SPARK_LOCAL_IP", "PYSPARK_PYTHON",
                                             "PYTHONPATH")}
    # The JVM and its Python workers inherit these.
    os.environ.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
                      PYTHONPATH=pythonpath)
    try:
        builder = (SparkSession.builder.master("local[2]").appName(app)
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.driver.memory", "512m")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.driver.extraJavaOptions", "-Djava.io.tmpdir=%s" % java_tmp)
                   .config("spark.local.dir", str(base / "local"))
                   .config("spark.sql.warehouse.dir", str(base / "warehouse"))
                   .config("spark.sql.shuffle.partitions", "2")
                   .config("spark.sql.session.timeZone", "UTC"))
        for key, value in (conf or {}).items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("OFF")
        try:
            yield session
        finally:
            session.stop()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
