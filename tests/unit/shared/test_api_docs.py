"""`/docs` serves Swagger UI from this machine: the page names local files only, those files are
served (and nothing else of the package), and without the package it says how to install it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.api_docs import ASSETS_ENV, PACKAGE, SERVED, assets_dir, install_api_docs


def app_with(node_modules: Path, root_path: str = "") -> httpx.AsyncClient:
    app = FastAPI(title="Vigil test", docs_url=None, redoc_url=None)
    install_api_docs(app, title="Vigil test", node_modules=node_modules)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app, root_path=root_path), base_url="http://vigil.test")


@pytest.fixture
def node_modules(tmp_path: Path) -> Path:
    package = tmp_path / PACKAGE
    package.mkdir()
    for name in [*SERVED, "index.html", "swagger-initializer.js"]:
        (package / name).write_text(f"/* {name} */")
    return tmp_path


def referenced(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


async def test_the_page_loads_swagger_ui_from_this_service_only(node_modules):
    client = app_with(node_modules)
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = referenced(page.text)
    assert sorted(urls) == ["/docs/assets/favicon-32x32.png", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"]
    assert "url: '/openapi.json'" in page.text and "//" not in "".join(urls)
    assert '"persistAuthorization": true' in page.text
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200 and response.text == f"/* {url.rsplit('/', 1)[1]} */"


async def test_the_packages_other_files_are_not_served(node_modules):
    client = app_with(node_modules)
    for name in ("index.html", "swagger-initializer.js", "../x", "package.json"):
        assert (await client.get(f"/docs/assets/{name}")).status_code == 404, name


async def test_behind_a_path_prefix_the_page_names_its_files_under_the_prefix(node_modules):
    page = (await app_with(node_modules, root_path="/incidents").get("/docs")).text
    assert {u.rsplit("/", 1)[0] for u in referenced(page)} == {"/incidents/docs/assets"}
    assert "url: '/incidents/openapi.json'" in page


async def test_without_the_package_the_page_says_how_to_install_it(tmp_path):
    page = await app_with(tmp_path / "nowhere").get("/docs")
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    for words in ("make setup", "npm ci", "VIGIL_ASSETS_DIR", "/openapi.json"):
        assert words in page.text
    assert "<script" not in page.text


def test_the_assets_are_found_through_vigil_assets_dir_or_in_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv(ASSETS_ENV, str(tmp_path))
    assert assets_dir() == tmp_path
    monkeypatch.delenv(ASSETS_ENV)
    assert assets_dir() == Path(__file__).resolve().parents[3] / "node_modules"
