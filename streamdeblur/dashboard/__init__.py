"""The live monitoring dashboard and Prometheus ``/metrics``.

``server.for_pipeline(pipeline)`` serves a running pipeline's dashboard (``pipelines/live.py``);
``streamdeblur dashboard ENDPOINT`` (``commands``) attaches one to a pipeline's ZeroMQ output.
Modules: ``metrics`` (prometheus-client), ``feed`` (the ZeroMQ view), ``monitor`` (sampled
numbers and history), ``server`` (aiohttp app in a background thread), ``ocrfeed`` (the OCR
panel from a consumer process's JSON lines), ``static/`` (the page).
"""
