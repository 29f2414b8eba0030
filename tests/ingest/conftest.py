"""Fixtures the ingest tests share: moto's S3 server, AWS Data Exports places, Azurite."""

from tests.fixtures.azure_remote import azure_env, azurite, tls  # noqa: F401 (fixtures)
from tests.fixtures.data_exports import place, s3_env  # noqa: F401 (fixtures)
from tests.fixtures.s3 import credentials, endpoint  # noqa: F401 (fixtures)
