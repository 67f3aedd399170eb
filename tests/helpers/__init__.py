"""What tests share besides fixtures (those stay in conftest.py files).

- ``config``: repository paths, the sample city, a dispatch config for tests, a child's environment.
- ``services``: the local PostgreSQL/Redis probes, the test run's Redis database, real Celery processes.
- ``db``: emptying every table of the system of record.
- ``webauth``: signing a TestClient in as a user of a role; the roles the web tests use.
- ``pages``: web-page helpers (attachments, an image to upload, inline-script checks).
- ``tickets``: a routed ticket made through the API and the flows, as the workers would.
- ``delivery``: an API whose city's channels point at the local receivers.
- ``receivers``: local HTTP and SMTP receivers and a city file pointed at them.
- ``fakes``: a chat model with canned replies, a bag-of-words embedder.
- ``synthetic``: synthetic videos and scenes, a colour-blob detector.

No test module imports from another test module; they import from here.
"""
