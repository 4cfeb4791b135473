"""Models: the registry and exporter (torch), and the serving engines.

Import the module you need: ``engine.load_engine`` (either engine, by the ``engine`` setting),
``registry.load_classifier`` (torch), ``export.export_bundle`` (torch to a bundle), ``store`` (bundles
in the cache and the bucket). This package's own import pulls in nothing: a torch-free worker imports
``engine``, ``onnx_engine``, ``bundle``, ``preprocess`` and ``prediction``, never torch.
"""
