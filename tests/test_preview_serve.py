"""`digest preview --serve`, run as a user runs it: the preview on localhost, rebuilt when a
template or the configuration is saved, an error page while a template is broken."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from .conftest import ROOT

NOW = "2026-11-26T07:00:00+00:00"


@pytest.fixture
def server(project):
    """The CLI serving the example project, with an override folder holding the layout."""
    templates = project / "my-templates"
    templates.mkdir()
    (templates / "digest.mjml.j2").write_text((ROOT / "templates" / "digest.mjml.j2").read_text())
    config = project / "digest.yaml"
    config.write_text(config.read_text() + "\ntemplates: my-templates\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", "preview", "--serve", "--port", "0", "--now", NOW],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},  # stdout as a pipe buffers
    )
    try:
        first = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", first)
        assert found, first + proc.stderr.read()
        yield found.group(0), project, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def save(path, text: str) -> None:
    """Write and move the mtime on, as an editor's save does, however coarse the clock."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_preview_page_shows_the_email_at_two_widths_and_its_parts(server):
    url, _, _ = server
    status, page = get(url)
    assert status == 200
    assert 'src="/email.html" width="375"' in page and 'src="/email.html" width="800"' in page
    assert re.search(r"HTML \d+\.\d KB of 102 KB", page)
    status, html = get(url + "email.html")
    assert status == 200 and "Trending Papers" in html and "<script" not in html
    assert get(url + "digest.txt")[1].startswith("TRENDING PAPERS")
    assert "List-Unsubscribe:" in get(url + "digest.eml")[1]


def test_saving_a_template_rebuilds_and_a_broken_one_shows_where_until_fixed(server):
    url, project, _ = server
    layout = project / "my-templates" / "digest.mjml.j2"
    original = layout.read_text()
    version = get(url + "__version")[1]

    save(layout, original.replace(">Manage preferences<", ">Your settings<"))
    assert get(url + "__version")[1] != version
    assert "Your settings" in get(url + "email.html")[1]

    save(layout, original.replace("{{ v.date_text }}", "{{ v.date_text }"))
    status, error = get(url + "email.html")
    assert status == 500 and "my-templates/digest.mjml.j2:" in error
    assert "template error" in get(url)[1]  # the preview page says so too

    save(layout, original)
    status, html = get(url + "email.html")
    assert status == 200 and "Manage preferences" in html


def test_saving_the_config_reloads_it(server):
    url, project, _ = server
    config = project / "digest.yaml"
    save(config, config.read_text().replace("name: Trending Papers", "name: Lab Reading List"))
    assert "Lab Reading List" in get(url + "email.html")[1]  # each request checks the files first


def test_a_wrong_config_path_is_a_usage_error_not_a_server(project, cli):
    result = cli("preview", "--serve", "--port", "0", "--config", "nope.yaml", cwd=project)
    assert result.returncode == 2 and "nope.yaml" in result.stderr


def test_a_browser_that_drops_its_connection_leaves_no_traceback_in_the_terminal(server):
    url, _, proc = server
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port))) as dropped:
        # linger 0: close() sends a reset, as a browser tab closed mid-request does
        dropped.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert get(url + "digest.txt")[0] == 200  # still serving, and the reset has been handled
    proc.terminate()
    errors = proc.communicate(timeout=10)[1]
    assert "Traceback" not in errors and "Exception occurred" not in errors, errors
