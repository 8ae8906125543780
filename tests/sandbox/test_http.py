"""HTTP-level behaviour: routing aliases, formats, chunked bodies, file uploads, the CLI."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from workbench.sandbox import main
from workbench.sandbox.api import NOTICE
from workbench.sandbox.server import HEADER


@pytest.fixture
def http(sandbox_xnat) -> requests.Session:
    session = requests.Session()
    session.auth = (sandbox_xnat.user, sandbox_xnat.password)
    return session


def test_notice_everywhere(sandbox_xnat, http):
    home = requests.get(sandbox_xnat.url)
    assert home.status_code == 200 and NOTICE in home.text
    assert home.headers[HEADER] == NOTICE
    info = requests.get(f"{sandbox_xnat.url}/xapi/siteConfig/buildInfo").json()
    assert info["version"] == "1.8.10" and info["sandbox"] == NOTICE
    assert http.get(f"{sandbox_xnat.url}/data/projects").headers[HEADER] == NOTICE


def test_basic_auth_sets_session_cookie_and_aliases_route(sandbox_xnat, http):
    url = sandbox_xnat.url
    first = http.get(f"{url}/data/projects", params={"format": "json"})
    assert first.status_code == 200 and "JSESSIONID" in first.cookies
    ids = {row["ID"] for row in first.json()["ResultSet"]["Result"]}
    for path in ("/data/archive/projects", "/REST/projects"):
        rows = http.get(url + path, params={"format": "json"}).json()["ResultSet"]["Result"]
        assert {row["ID"] for row in rows} == ids
    csv_text = http.get(f"{url}/data/projects", params={"format": "csv"}).text
    assert csv_text.splitlines()[0].startswith("ID,secondary_ID,name")
    assert requests.get(f"{url}/data/projects").status_code == 401


def test_unmatched_requests_answer_as_before(sandbox_xnat, http):
    url = sandbox_xnat.url
    assert requests.get(f"{url}/nowhere").status_code == 401
    assert requests.get(f"{url}/data/version").status_code == 404
    for method, path in (("GET", "/nowhere"), ("GET", "/data/services/import"),
                         ("PUT", "/xapi/users"), ("GET", "/data/services/auth"),
                         ("POST", "/data/services/prearchive/nope"), ("GET", "/data/prearchive")):
        answer = http.request(method, url + path)
        assert (answer.status_code, answer.text) == (404, f"Not found: {path}"), (method, path)
    assert http.post(f"{url}/data/projects/P1/files").status_code == 405
    assert http.get(f"{url}/data/search/elements/x").json()["ResultSet"]["Result"] == []


def test_chunked_import_and_file_operations(sandbox_xnat, http, make_study):
    url = sandbox_xnat.url
    study = make_study()

    def chunks():
        with open(study.zip_path, "rb") as handle:
            while block := handle.read(1000):
                yield block

    response = http.post(f"{url}/data/services/import", data=chunks(),
                         params={"import-handler": "DICOM-zip", "project": "P1",
                                 "subject": "S1", "session": "E1"})
    assert response.status_code == 200
    assert response.text == "/data/archive/projects/P1/subjects/S1/experiments/E1\r\n"

    files = f"{url}/data/projects/P1/subjects/S1/experiments/E1/scans/1/resources/DICOM/files"
    rows = http.get(files, params={"format": "json"}).json()["ResultSet"]["Result"]
    assert rows[0]["URI"].startswith("/data/experiments/")
    head = http.head(f"{files}/slice000.dcm")
    assert int(head.headers["Content-Length"]) == len(study.files[("1", "slice000.dcm")])
    zipped = http.get(f"{url}/data/experiments/E1/scans/ALL/files", params={"format": "zip"})
    assert zipped.status_code == 404
    exp_id = rows[0]["URI"].split("/")[3]
    zipped = http.get(f"{url}/data/experiments/{exp_id}/scans/1,2/files", params={"format": "zip"})
    assert len(zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()) == 6

    notes = f"{url}/data/projects/P1/subjects/S1/resources/NOTES/files"
    assert http.put(f"{notes}/a.txt", data=b"one").status_code == 200
    assert http.put(f"{notes}/a.txt", data=b"two").status_code == 409
    assert http.put(f"{notes}/a.txt", data=b"two", params={"overwrite": "true"}).status_code == 200
    assert http.get(f"{notes}/a.txt").content == b"two"
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("dir/b.txt", "bee")
        archive.writestr("c.txt", "sea")
    assert http.put(f"{notes}/bundle.zip", data=bundle.getvalue(),
                    params={"extract": "true"}).status_code == 200
    listed = http.get(notes, params={"format": "json"}).json()["ResultSet"]["Result"]
    paths = sorted(row["URI"].split("/files/")[1] for row in listed)
    assert paths == ["a.txt", "c.txt", "dir/b.txt"]
    assert http.delete(f"{notes}/a.txt").status_code == 200
    assert http.get(f"{notes}/a.txt").status_code == 404


def test_main_help_mentions_notice(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "not a home for real data" in " ".join(capsys.readouterr().out.split())


def test_module_entry_point_serves(tmp_path: Path):
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench.sandbox", "--data", str(tmp_path / "data"), "--port", "0",
         "--user", "demo:demo-pw", "--project", "DEMO:demo"],
        stderr=subprocess.PIPE, text=True)
    try:
        banner = process.stderr.readline()
        assert "not a home for real data" in banner
        url = process.stderr.readline().split()[3]
        rows = requests.get(f"{url}/data/projects", auth=("demo", "demo-pw"),
                            timeout=10).json()["ResultSet"]["Result"]
        assert [row["ID"] for row in rows] == ["DEMO"]
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()
