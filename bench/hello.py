"""The yardstick for bench/shipped.py: a hello-world Flask app, nothing else.

`gunicorn -c gunicorn.conf.py bench.hello:app` serves it under exactly the portal's settings.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
