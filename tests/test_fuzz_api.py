"""Generated bad input: the schemathesis CLI against the served OpenAPI document.

`schemathesis run` generates cases from every operation of `/api/v2/openapi.json`, valid and
not, and sends them over real HTTP to the gunicorn-served app, as a new user trying the API
with it would: with a user's token, an admin's, and none. Whatever arrives, no answer may be
a 5xx, and each must be what the document says (status code, content type, headers, body).

One check is left out: `positive_data_acceptance` calls any 4xx to a request the schema
allows a failure, but the API rightly refuses some of those on rules a schema cannot state
(a PNG uploaded as CSV, a cursor it never issued, cancelling jobs that are already
cancelled, a job type no worker knows).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ApiUser

# Run again on another database or broker: see tests/conftest.py.
pytestmark = pytest.mark.database


def schemathesis(base_url: str, workdir: Path, *options: str) -> tuple[int, str, int]:
    """Run the CLI over every operation: its exit status, its output, and how many cases.
    It runs in `workdir`, where it keeps its cache."""
    call = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "run",
         f"{base_url}/api/v2/openapi.json", "--seed", "1", "--generation-database", "none",
         "--no-color", "--request-timeout", "30", "--checks", "all",
         "--exclude-checks", "positive_data_acceptance", *options],
        capture_output=True, text=True, timeout=600, cwd=workdir)
    generated = re.search(r"(\d+) generated", call.stdout)
    return call.returncode, call.stdout + call.stderr, int(generated.group(1)) if generated else 0


@pytest.fixture(scope="module")
def users(web_server) -> dict[str, ApiUser]:
    """A user and an admin with real tokens, made in the database the served app uses."""
    import uuid

    from jobplatform import create_app
    from jobplatform.database import begin_write
    from jobplatform.extensions import db
    from jobplatform.users.tokens import create_user, issue_token

    made = {}
    with create_app().app_context():
        for role in ("user", "admin"):
            begin_write(db.session)
            user = create_user(db.session, f"fuzz-{uuid.uuid4().hex[:10]}@example.com",
                               admin=role == "admin")
            made[role] = ApiUser(user.id, user.email, issue_token(db.session, user))
            db.session.commit()
        db.session.remove()
        db.engine.dispose()  # this app's own connections, closed before it is dropped
    return made


@pytest.mark.parametrize(("role", "examples", "at_least"), [("user", 60, 1000),
                                                            ("admin", 10, 150)])
def test_over_a_thousand_generated_requests_with_a_token_find_nothing(
    web_server, users, tmp_path, role, examples, at_least
):
    status, output, cases = schemathesis(
        web_server.base_url, tmp_path, "--header", f"Authorization: Bearer {users[role].token}",
        "--max-examples", str(examples))
    assert cases >= at_least, output[-3000:]
    assert status == 0, output[-20000:]


def test_generated_requests_without_a_token_get_clean_401s(web_server, tmp_path):
    # Without a token every guarded operation answers 401 alone, which schemathesis calls a
    # failed authentication rather than a finding; it still checks each answer is no 5xx
    # and is documented.
    status, output, cases = schemathesis(web_server.base_url, tmp_path, "--max-examples", "10")
    assert cases >= 100, output[-3000:]
    assert status == 0, output[-20000:]
