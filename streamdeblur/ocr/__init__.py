"""Licence-plate OCR: the live consumer and the recognition-gain report.

Modules (import what you need; torch and EasyOCR load only with ``reader``):

- ``plates``: ``normalise``, ``PlateFormat`` (per-camera regex, look-alike fixes),
  ``resolve_format`` (regex or preset ``br``/``mercosul``/``it``/``sk``;
  config ``plate_format`` values accept presets too), ``plate_shaped``,
  ``edit_distance``, ``char_accuracy``.
- ``voting``: ``PlateVoter`` (one voted ``PlateRead`` per plate passing by).
- ``thumbs``: ``plate_thumbnail`` (the base64 JPEG of a plate in ``plate`` events).
- ``reader``: ``PlateReader`` (EasyOCR, offline weights, one reader per process).
- ``stats``: ``OcrStats``: the numbers the dashboard and metrics read:
  ``snapshot()`` (per-camera dict), ``metrics()`` (Prometheus samples), ``summary()``.
- ``consumer``: ``OcrConsumer(endpoint, OcrConfig)`` / ``OcrConsumer.from_config(cfg)``;
  ``.start()``, ``.stats``, ``.stop()``; ``consumer_endpoint(output)``.
- ``launch``: ``spawn_consumer(config_path)`` / ``stop_consumer(proc)`` (next to ``run``).
- ``evaluate`` / ``report``: ``eval-ocr`` (``evaluate(dir) -> EvalResult``, ``write_report``).
- ``democlip``: ``make_demo_clip``: a demo camera with readable plates.
- ``commands``: CLI ``ocr``, ``eval-ocr``, ``ocr-demo-clip``.
"""
