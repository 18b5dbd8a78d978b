"""Shared test worlds: the platforms the tests run the console against, built in one place.

Each module here wraps the real or faithful servers under ``tests/``
(``tests.k8s_server``, ``tests.aws.moto_server``, ``tests.cloudrun_server``,
the demo sandbox of ``console.demo``) into the fixtures several test modules
share; ``platforms`` gives the provider contract suite one handle per platform.
"""
